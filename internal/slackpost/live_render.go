package slackpost

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// Live message limits, in Slack characters.
const (
	liveTextMax     = 3_000 // the answer-so-far shown while the run works
	planMax         = 2_000 // the checklist (a section holds 3,000)
	todoMax         = 300   // one checklist line
	activityMax     = 300   // the activity line
	defaultProgress = ":hourglass_flowing_sand: Working on it…"
)

// Todo statuses, as the agent's planning tool reports them.
const (
	TodoPending    = "pending"
	TodoInProgress = "in_progress"
	TodoCompleted  = "completed"
)

// renderProgress is the live message for pr. failure, when set, replaces
// the activity line with a warning.
func renderProgress(pr Progress, placeholder, failure string) Message {
	var blocks []slack.Block
	if plan := planText(pr.Todos); plan != "" {
		blocks = append(blocks, mrkdwnSection(plan))
	}
	if text := liveMarkdown(slacktext.Defuse(pr.Text), liveTextMax); text != "" {
		blocks = append(blocks, slack.NewMarkdownBlock("", text))
	}
	placeholder = slacktext.Defuse(placeholder)
	fallback := placeholder
	switch {
	case failure != "":
		note := ":warning: " + slacktext.Truncate(escapeMrkdwn(oneLine(failure)), fallbackTextMax-20)
		blocks = append(blocks, mrkdwnSection(note))
		fallback = note
	case strings.TrimSpace(pr.Activity) != "":
		line := ":gear: _" + slacktext.Truncate(escapeMrkdwn(oneLine(pr.Activity)), activityMax) + "_"
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, line, false, false)))
	}
	if len(blocks) == 0 {
		blocks = append(blocks, mrkdwnSection(placeholder))
	}
	return Message{Text: fallback, Blocks: blocks}
}

func mrkdwnSection(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

// withPlan puts the plan's checklist above an answer message.
func withPlan(todos []Todo, m Message) Message {
	plan := planText(todos)
	if plan == "" {
		return m
	}
	blocks := make([]slack.Block, 0, len(m.Blocks)+1)
	blocks = append(blocks, mrkdwnSection(plan))
	m.Blocks = append(blocks, m.Blocks...)
	return m
}

// planText renders todos as a mrkdwn checklist within planMax characters.
func planText(todos []Todo) string {
	var lines []string
	used := 0
	for i, t := range todos {
		content := slacktext.Truncate(escapeMrkdwn(oneLine(t.Content)), todoMax)
		var line string
		switch t.Status {
		case TodoCompleted:
			line = ":white_check_mark: " + content
		case TodoInProgress:
			line = ":arrows_counterclockwise: *" + content + "*"
		default:
			line = ":white_circle: " + content
		}
		more := fmt.Sprintf("… and %d more", len(todos)-i)
		if used+slackLen(line)+1+slackLen(more) > planMax && i < len(todos)-1 ||
			used+slackLen(line) > planMax {
			lines = append(lines, more)
			break
		}
		lines = append(lines, line)
		used += slackLen(line) + 1
	}
	return strings.Join(lines, "\n")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// liveMarkdown is the end of the answer so far, within max characters. When
// it has to drop the start it begins with "…", reopening a code fence if
// the cut falls inside one, and it closes a fence left open at the end so
// the blocks after it do not render as code.
func liveMarkdown(md string, max int) string {
	md = trimEdges(md)
	if md == "" {
		return ""
	}
	if slackLen(md) > max {
		d := scanLines(md)
		budget := max - len("…\n") - (maxFenceIndent + maxFenceMarker + maxFenceLang + 1) - closerReserve - 1
		c := d.earliestFitting(budget)
		if k := d.lineAt(c); d.starts[k] < c && k+1 < len(d.starts)-1 && d.units(c, d.starts[k+1]) <= maxFenceLine {
			c = d.starts[k+1] // start at a line when one is near, so a fence line is never cut in half
		}
		prefix := "…\n"
		if f := d.stateAt(c); f != nil {
			prefix += f.opener()
		}
		md = prefix + md[c:]
	}
	if f := openFenceAtEnd(md); f != nil {
		md += "\n" + f.closer()
	}
	return md
}

// earliestFitting is the first rune start c with md[c:] within budget.
func (d *lineDoc) earliestFitting(budget int) int {
	total := d.cum[len(d.md)]
	lo, hi := 0, len(d.md)
	for lo < hi {
		mid := (lo + hi) / 2
		if total-d.cum[mid] <= budget {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	for lo < len(d.md) && !d.runeStart(lo) {
		lo++
	}
	return lo
}
