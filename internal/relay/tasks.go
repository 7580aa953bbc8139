package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errClosed is returned for background work offered after Close.
var errClosed = errors.New("relay: closed")

// tasks owns the relay's background work: Slack calls made off a request's
// path (reactions, card updates, ephemeral notes) and feedback sent to
// LangSmith. Each runs on a context detached from the request that started
// it (the request has usually returned by then) but bounded by the task
// itself; Close waits for all of them, so a shutdown does not lose a final
// reaction or card update, and cancels what is still running at its
// deadline, so none outlives it.
type tasks struct {
	ctx    context.Context // ends when Close gives up waiting
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newTasks() *tasks {
	ctx, cancel := context.WithCancel(context.Background())
	return &tasks{ctx: ctx, cancel: cancel}
}

// Go runs f on its own goroutine, or returns errClosed once Close began.
// f must return soon after its context ends.
func (t *tasks) Go(f func(ctx context.Context)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	// Added under the lock that Close takes before Wait: no Add can race
	// with the Wait.
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f(t.ctx)
	}()
	return nil
}

// Close refuses new work and waits for the running work until ctx ends;
// then it cancels what is left and waits for it to return. It reports
// whether work was cut short.
func (t *tasks) Close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	defer t.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	t.cancel()
	<-done
	return fmt.Errorf("background work cut short: %w", ctx.Err())
}
