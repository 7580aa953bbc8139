package bottest

import (
	"context"
	"fmt"
	"time"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// PollEvery is how often Wait checks a condition: the bot's own state (its
// store, a process's database, /metrics) changes without telling anyone.
const PollEvery = 10 * time.Millisecond

// Wait polls cond every PollEvery until it holds or ctx ends.
func Wait(ctx context.Context, cond func() bool) error { return Poll(ctx, PollEvery, cond) }

// Poll checks cond every interval until it holds or ctx ends: the one
// waiting loop of the end-to-end tests and the demo. A load benchmark polls
// more slowly, so that its checks cost little next to what it measures.
func Poll(ctx context.Context, every time.Duration, cond func() bool) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a condition: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// WaitFor waits until cond holds on the world's Slack.
func (w *World) WaitFor(ctx context.Context, cond func(*slackfake.Server) bool) error {
	return Wait(ctx, func() bool { return cond(w.Slack) })
}
