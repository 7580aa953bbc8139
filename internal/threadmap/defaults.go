package threadmap

import (
	"time"

	"github.com/deepagents-slack/slackbot"
)

// The prepare functions fill in what a caller may leave out, the same way for
// every store, and normalise times to how they are stored.

func prepareConversation(c slackbot.Conversation, now time.Time) slackbot.Conversation {
	if c.ThreadID == "" {
		c.ThreadID = slackbot.ThreadID(c.Key)
	}
	c.CreatedAt = utcMicro(c.CreatedAt)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return c
}

func prepareJob(j slackbot.Job, now time.Time) slackbot.Job {
	if j.ThreadID == "" {
		j.ThreadID = slackbot.ThreadID(j.Key)
	}
	if j.State == "" {
		j.State = slackbot.JobAccepted
	}
	j.CreatedAt = utcMicro(j.CreatedAt)
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = now
	return j
}

func prepareCard(c slackbot.Card, now time.Time) slackbot.Card {
	if c.ThreadID == "" {
		c.ThreadID = slackbot.ThreadID(c.Key)
	}
	c.CreatedAt = utcMicro(c.CreatedAt)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return c
}
