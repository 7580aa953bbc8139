package threadmap

import "time"

// The prepare functions fill in what a caller may leave out, the same way for
// every store, and normalise times to how they are stored.

func prepareConversation(c Conversation, now time.Time) Conversation {
	if c.ThreadID == "" {
		c.ThreadID = ThreadID(c.Key)
	}
	c.CreatedAt = utcMicro(c.CreatedAt)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return c
}

func prepareJob(j Job, now time.Time) Job {
	if j.ThreadID == "" {
		j.ThreadID = ThreadID(j.Key)
	}
	if j.State == "" {
		j.State = JobAccepted
	}
	j.CreatedAt = utcMicro(j.CreatedAt)
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = now
	return j
}

func prepareCard(c Card, now time.Time) Card {
	if c.ThreadID == "" {
		c.ThreadID = ThreadID(c.Key)
	}
	c.CreatedAt = utcMicro(c.CreatedAt)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return c
}
