package slackpost

import (
	"context"
	"strings"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// Limits of a prompt's root message, in Slack characters after escaping.
const (
	rootSectionMax = 3000 // Slack: section text ≤ 3000
	rootNoticeMax  = 200  // the notification text's echo of the prompt
)

// PostPrompt posts, at the top of channel, the message a conversation hangs
// off (a slash command's, a test run's) and returns its ts.
func (p *Poster) PostPrompt(ctx context.Context, channel, who, echo string) (string, error) {
	return p.Post(ctx, channel, "", promptMessage(who, echo))
}

// promptMessage shows who asked (mrkdwn) and their prompt (Slack text)
// quoted. Broadcasts are made inert and the section is cut after escaping
// and quoting, so it stays within Slack's limit whatever the prompt holds.
func promptMessage(who, echo string) Message {
	echo = slacktext.Defuse(echo)
	section := slacktext.Truncate(who+"\n"+quotedLines("> "+echo), rootSectionMax)
	return Message{
		Text: who + " " + slacktext.Truncate(strings.Join(strings.Fields(echo), " "), rootNoticeMax),
		Blocks: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, section, false, false), nil, nil),
		},
	}
}

// quotedLines prefixes every line of s with a quote marker.
func quotedLines(s string) string {
	lines := strings.Split(strings.TrimPrefix(s, "> "), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}
