package slackfake_test

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func feedback(good, bad *slack.FeedbackButton) slack.Block {
	return slack.NewContextActionsBlock("fb", slack.NewFeedbackButtonsBlockElement("answer_feedback", good, bad))
}

func feedbackButton(text, value string) *slack.FeedbackButton {
	return slack.NewFeedbackButton(slack.NewTextBlockObject(slack.PlainTextType, text, true, false), value)
}

// TestContextActionsBlock: feedback buttons in a context_actions block are
// checked like Slack checks them.
func TestContextActionsBlock(t *testing.T) {
	ok := feedbackButton("👍", "1:job")
	tests := []struct {
		name   string
		blocks []slack.Block
		want   string
	}{
		{"feedback buttons", []slack.Block{feedback(ok, feedbackButton("👎", "0:job"))}, ""},
		{"no negative button", []slack.Block{feedback(ok, nil)}, "[json-pointer:/blocks/0/elements/0/negative_button]"},
		{"empty value", []slack.Block{feedback(ok, feedbackButton("👎", ""))}, "[json-pointer:/blocks/0/elements/0/negative_button/value]"},
		{"value 2001", []slack.Block{feedback(ok, feedbackButton("👎", strings.Repeat("v", 2001)))}, "[json-pointer:/blocks/0/elements/0/negative_button/value]"},
		{"button text 76", []slack.Block{feedback(feedbackButton(strings.Repeat("g", 76), "1"), feedbackButton("👎", "0"))}, "[json-pointer:/blocks/0/elements/0/positive_button/text/text]"},
		{"a plain button is not allowed", []slack.Block{slack.NewContextActionsBlock("", slack.NewButtonBlockElement("a", "v", slack.NewTextBlockObject(slack.PlainTextType, "x", false, false)))}, "must be one of feedback_buttons, icon_button"},
		{"no elements", []slack.Block{slack.NewContextActionsBlock("")}, "[json-pointer:/blocks/0/elements]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBlocksVerdict(t, tt.blocks, tt.want) })
	}
}
