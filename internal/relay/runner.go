package relay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// DefaultMaxFollowed is the default safety limit on jobs one replica works
// at once. Following a run is waiting on a stream, so the real bound is
// memory: at about 50 KiB per followed run (cmd/loadbench -runs, 10,000
// runs in flight: 493 MB RSS), 20,000 runs take about 1 GiB. The limit is there so
// that a runaway (a runtime that never ends runs, a flood of work) stops at
// a size a replica's memory limit can be set for, not to pace normal load.
const DefaultMaxFollowed = 20_000

// DefaultPollInterval is how often an idle replica looks for work nobody
// announced. New work wakes the replica by notification; only takeovers
// (a lease that ran out: nothing announces that), retries scheduled by
// another replica and notifications lost while a listener reconnects wait
// for the poll, and they wait at least a lease TTL or a backoff anyway.
const DefaultPollInterval = 5 * time.Second

// Wake sources, as counted by Metrics.DispatcherWoken.
const (
	WokenLocal  = "local"  // work recorded by this process
	WokenListen = "listen" // work announced by another process through the store
	WokenPoll   = "poll"   // the fallback poll
)

// notify wakes the dispatcher: new work was just recorded, or a job ended
// and the next job of its conversation may go.
func (r *Relay) notify() { signal(r.wake) }

// signal leaves a token in a one-slot channel unless one is there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run leases jobs from the store's ledger and works each one in a goroutine
// of its own until ctx ends, then waits for them: on return every lease
// this replica held is released so another replica takes over at once.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if p, ok := r.cfg.Store.(Pruner); ok {
		wg.Go(func() { r.pruneLoop(ctx, p) })
	}
	if r.cfg.Listener != nil {
		wg.Go(func() { r.listenLoop(ctx, r.cfg.Listener) })
	}
	r.dispatch(ctx, &wg)
	wg.Wait()
	return nil
}

// dispatch leases every job that may be worked now, each into a goroutine
// of its own (at most MaxFollowed at once), then sleeps until woken: by
// work recorded here, by work another replica announced, or by the
// fallback poll. The goroutines it starts are added to wg.
func (r *Relay) dispatch(ctx context.Context, wg *sync.WaitGroup) {
	slots := make(chan struct{}, r.cfg.MaxFollowed)
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		job, leasedAt, err := r.leaseNext(ctx)
		if err == nil {
			wg.Go(func() {
				defer func() { <-slots }()
				r.work(ctx, job, leasedAt)
			})
			continue // more may be ready
		}
		<-slots
		switch {
		case ctx.Err() != nil:
			return
		case !errors.Is(err, slackbot.ErrNoJob):
			r.log.Error("lease job", "err", err)
		}
		poll.Reset(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
			r.metrics.DispatcherWoken(WokenLocal)
		case <-r.listenWake:
			r.metrics.DispatcherWoken(WokenListen)
		case <-poll.C:
			r.metrics.DispatcherWoken(WokenPoll)
		}
	}
}

// leaseNext leases the next job that may be worked. Shutdown does not cut
// the request short: a lease the database granted as shutdown began must
// come back here so that work releases it, instead of being left to
// expire. leasedAt is when the request began, the earliest time the lease
// can have been granted.
func (r *Relay) leaseNext(ctx context.Context) (job slackbot.Job, leasedAt time.Time, err error) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	leasedAt = time.Now()
	job, err = r.cfg.Store.LeaseNextJob(lctx, r.cfg.Owner, r.cfg.LeaseTTL)
	if err == nil && job.Attempts > 1 {
		r.metrics.LeaseTakeover()
	}
	return job, leasedAt, err
}

// listenLoop relays the store's announcements of new work to the
// dispatcher until ctx ends. A listener that stops (PostgreSQL restarted,
// the connection dropped) is started again after a backoff; meanwhile the
// fallback poll finds the work, only later.
func (r *Relay) listenLoop(ctx context.Context, l JobListener) {
	const maxBackoff = 30 * time.Second
	backoff := time.Second
	for {
		began := time.Now()
		err := l.ListenJobs(ctx, func() { signal(r.listenWake) })
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > maxBackoff {
			backoff = time.Second // it listened a while: a fresh failure
		}
		r.log.Warn("cannot listen for new work; polling until it listens again",
			"err", err, "retry_in", backoff, "poll_interval", r.cfg.PollInterval)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
