package slackpost

import "github.com/slack-go/slack"

// maxMessageBlocks is Slack's limit: "up to 50 blocks in each message"
// (docs.slack.dev/reference/block-kit/blocks).
const maxMessageBlocks = 50

// withFooter puts footer under the last part of an answer, or, when that
// part has no room for it, in a part of its own after it.
func withFooter(msgs []Message, footer []slack.Block) []Message {
	if len(footer) == 0 || len(msgs) == 0 {
		return msgs
	}
	out := append([]Message(nil), msgs...)
	last := &out[len(out)-1]
	if len(last.Blocks)+len(footer) <= maxMessageBlocks-1 { // one kept for the plan on part 0
		last.Blocks = append(append([]slack.Block(nil), last.Blocks...), footer...)
		return out
	}
	return append(out, Message{Text: "Rate this answer", Blocks: footer})
}

// answerFooter is what goes under the final answer: the feedback buttons.
func (l *Live) answerFooter() []slack.Block {
	if l.o.FeedbackJobID == "" {
		return nil
	}
	return []slack.Block{feedbackBlock(l.o.FeedbackJobID)}
}

// withControls puts the live reply's controls (the Stop button) under a
// progress message.
func (l *Live) withControls(m Message) Message {
	if l.o.StopJobID == "" || (l.o.CanStop != nil && !l.o.CanStop()) {
		return m
	}
	controls := []slack.Block{stopBlock(l.o.StopJobID)}
	if len(m.Blocks)+len(controls) > maxMessageBlocks {
		return m
	}
	m.Blocks = append(append([]slack.Block(nil), m.Blocks...), controls...)
	return m
}
