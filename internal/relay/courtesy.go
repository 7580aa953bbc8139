package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// courtesyTimeout bounds one courtesy call, retries included.
const courtesyTimeout = 15 * time.Second

// courtesy runs the bot's courtesy Slack calls (status reactions, the AI
// app's "thinking" status) off the caller's path, one at a time per target
// and in the order they were asked for. Unordered, "remove the hourglass"
// could overtake "add the hourglass" and leave it on an answered message,
// or a cleared status could be set again after the run ended.
type courtesy struct {
	log   *slog.Logger
	tasks *tasks // runs the drains, so shutdown waits for them

	mu     sync.Mutex
	queues map[string][]courtesyCall // target -> pending calls; present while drained
}

// courtesyCall is one queued call; a failure is logged at level, never shown.
type courtesyCall struct {
	level slog.Level
	run   func(context.Context) error
}

func newCourtesy(log *slog.Logger, t *tasks) *courtesy {
	return &courtesy{log: log, tasks: t, queues: map[string][]courtesyCall{}}
}

// do queues call for target and returns at once; a failure is logged at level.
func (c *courtesy) do(target string, level slog.Level, call func(context.Context) error) {
	c.mu.Lock()
	q, draining := c.queues[target]
	c.queues[target] = append(q, courtesyCall{level: level, run: call})
	c.mu.Unlock()
	if draining {
		return
	}
	if err := c.tasks.Go(func(ctx context.Context) { c.drain(ctx, target) }); err != nil {
		c.mu.Lock()
		dropped := len(c.queues[target])
		delete(c.queues, target)
		c.mu.Unlock()
		c.log.Log(context.Background(), level, "slack call dropped", "target", target, "calls", dropped, "err", err)
	}
}

// drain runs target's calls until its queue is empty. Calls queued while
// it runs are run by it too, so shutdown waits for them as well.
func (c *courtesy) drain(ctx context.Context, target string) {
	for {
		c.mu.Lock()
		q := c.queues[target]
		if len(q) == 0 {
			delete(c.queues, target)
			c.mu.Unlock()
			return
		}
		call := q[0]
		c.queues[target] = q[1:]
		c.mu.Unlock()

		cctx, cancel := context.WithTimeout(ctx, courtesyTimeout)
		err := call.run(cctx)
		cancel()
		if err != nil {
			c.log.Log(ctx, call.level, "slack call", "target", target, "err", err)
		}
	}
}
