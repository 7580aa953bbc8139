package slackpost

import "github.com/slack-go/slack"

// The buttons of a live reply and of an answer, and the ids their clicks
// come back with.
const (
	// StopActionID names the Stop button under a running job's live reply;
	// its value is the job's id.
	StopActionID = "run_stop"
	// FeedbackActionID names the 👍/👎 element under every final answer;
	// a button's value is FeedbackGood or FeedbackBad and the job's id.
	FeedbackActionID = "answer_feedback"
	FeedbackGood     = "1:"
	FeedbackBad      = "0:"
)

// stopBlock holds the Stop button of a running job's live reply.
func stopBlock(jobID string) slack.Block {
	b := slack.NewButtonBlockElement(StopActionID, jobID, slack.NewTextBlockObject(slack.PlainTextType, "Stop", false, false))
	b.Style = slack.StyleDanger
	return slack.NewActionBlock("run_controls", b)
}

// feedbackBlock is Slack's feedback_buttons element in a context_actions
// block (docs.slack.dev/reference/block-kit/block-elements/feedback-buttons-element),
// naming the job whose answer it rates.
func feedbackBlock(jobID string) slack.Block {
	good := slack.NewFeedbackButton(slack.NewTextBlockObject(slack.PlainTextType, "👍", true, false), FeedbackGood+jobID).
		WithAccessibilityLabel("Good answer")
	bad := slack.NewFeedbackButton(slack.NewTextBlockObject(slack.PlainTextType, "👎", true, false), FeedbackBad+jobID).
		WithAccessibilityLabel("Bad answer")
	return slack.NewContextActionsBlock("feedback", slack.NewFeedbackButtonsBlockElement(FeedbackActionID, good, bad))
}

// Notice is a message of mrkdwn text only. It carries the text as a block
// too, because chat.update without blocks keeps a message's old ones.
func Notice(text string) Message {
	return Message{
		Text:   text,
		Blocks: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)},
	}
}
