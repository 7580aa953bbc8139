package threadmap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// TestGroupCommitRetryHasItsOwnTimeout: a group whose transaction used up
// its whole timeout is retried Record by Record, each in a transaction
// with a timeout of its own, so the retries can still succeed.
func TestGroupCommitRetryHasItsOwnTimeout(t *testing.T) {
	g := newGroupCommit(1, func(ctx context.Context, group []*pendingRecord) error {
		if len(group) > 1 {
			<-ctx.Done() // a group transaction that hangs until its deadline
			return ctx.Err()
		}
		return ctx.Err()
	})
	defer g.close()
	g.timeout = 50 * time.Millisecond

	group := make([]*pendingRecord, 3)
	for i := range group {
		group[i] = &pendingRecord{ctx: context.Background(), rec: slackbot.Record{DeliveryID: fmt.Sprint("d", i)}, done: make(chan struct{})}
	}
	g.commit(group)
	for i, p := range group {
		<-p.done
		if p.err != nil {
			t.Errorf("Record %d retried alone: %v, want it written", i, p.err)
		}
	}
}

// TestGroupCommitCloseWhileRecording closes while callers keep submitting
// Records: every caller gets an answer (written, or ErrClosed) and none is
// left waiting on a queue nobody reads any more. Callers pass contexts
// without deadline, so a stranded one would hang until the test's limit.
func TestGroupCommitCloseWhileRecording(t *testing.T) {
	for round := range 20 {
		var mu sync.Mutex
		written := map[string]bool{}
		g := newGroupCommit(2, func(ctx context.Context, group []*pendingRecord) error {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range group {
				written[p.rec.DeliveryID] = true
			}
			return nil
		})
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for c := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					id := fmt.Sprint(round, "/", c, "/", i)
					_, err := g.record(context.Background(), slackbot.Record{DeliveryID: id})
					if errors.Is(err, slackbot.ErrClosed) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					ok := written[id]
					mu.Unlock()
					if !ok {
						errs <- fmt.Errorf("Record %s answered but not written", id)
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond) // let the callers get going
		g.close()
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: callers still waiting 10 s after close (a Record was queued after the writers stopped)", round)
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
