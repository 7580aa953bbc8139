package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// LeaseRenewer is a Store that renews many leases in one write (every
// threadmap store is one). The relay then renews all the leases it holds
// together, once per renewal period; with a Store that is not one, the
// same keeper renews them one RenewLease at a time.
type LeaseRenewer interface {
	// RenewLeases extends each of held to ttl from now and returns the
	// ones it did not renew (taken over, released, ended, gone). After an
	// error none was renewed.
	RenewLeases(ctx context.Context, held []slackbot.Lease, ttl time.Duration) (lost []slackbot.Lease, err error)
}

// lease is a worker's hold on one job. The relay's leaseKeeper renews it;
// when renewal keeps failing until the lease would run out, or the store
// says someone else holds the job, the job's context is cancelled (cause
// slackbot.ErrLeaseLost) so that the worker stops touching the job before
// anyone else may take it.
type lease struct {
	slackbot.Lease // Owner is the job's LeaseOwner, with this lease's token
	// ctx is the job's context: a renewal made for this lease alone
	// (a Store that is no LeaseRenewer) ends with the job.
	ctx    context.Context
	cancel context.CancelCauseFunc
	expiry *time.Timer // fires at until: the job is given up

	// Guarded by the keeper's mu.
	//
	// until is the local time before which the lease is surely still ours:
	// a request that began at t and renewed it holds it to t+TTL by the
	// database's clock; a margin covers clocks running at slightly
	// different rates.
	until    time.Time
	renewing int  // renewals of it under way
	held     bool // false once released, lost or expired
}

// leaseMargin is the part of the lease a worker gives up early.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 10 }

// leaseKeeper renews every lease a Relay holds, every third of LeaseTTL,
// from one goroutine that runs only while a lease is held: a replica
// following thousands of runs pays for one goroutine and, with a
// LeaseRenewer, one write per renewal period, not one per run.
type leaseKeeper struct {
	r *Relay // its Store, LeaseTTL and logger, as set when a lease is held

	mu      sync.Mutex
	held    map[*lease]struct{}
	running bool          // the renewing goroutine runs
	stopped chan struct{} // closed when that goroutine returns
	empty   chan struct{} // tells it the last lease was let go
	settled *sync.Cond    // a renewal ended (on mu)
}

func newLeaseKeeper(r *Relay) *leaseKeeper {
	k := &leaseKeeper{r: r, held: map[*lease]struct{}{}, empty: make(chan struct{}, 1)}
	k.settled = sync.NewCond(&k.mu)
	return k
}

// hold starts keeping job's lease, granted no earlier than leasedAt, for
// the job whose context cancel cancels. The caller must release it.
func (k *leaseKeeper) hold(ctx context.Context, cancel context.CancelCauseFunc, job slackbot.Job, leasedAt time.Time) *lease {
	ttl := k.r.cfg.LeaseTTL
	l := &lease{
		Lease: slackbot.Lease{JobID: job.ID, Owner: job.LeaseOwner},
		ctx:   ctx, cancel: cancel,
		until: leasedAt.Add(ttl - leaseMargin(ttl)),
		held:  true,
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	l.expiry = time.AfterFunc(time.Until(l.until), func() { k.expire(l) })
	k.held[l] = struct{}{}
	if !k.running {
		k.running = true
		k.stopped = make(chan struct{})
		go k.run(k.stopped)
	}
	return l
}

// wait returns once the renewing goroutine, with no lease left to keep,
// has returned, or when ctx ends. While leases are held it returns at
// once: the goroutine then serves their workers, which own them.
func (k *leaseKeeper) wait(ctx context.Context) error {
	k.mu.Lock()
	running, stopped := k.running && len(k.held) == 0, k.stopped
	k.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("relay: lease keeper: %w", ctx.Err())
	}
}

// release stops keeping l, and returns once no renewal of it is under
// way: no write of this lease lands after it (a retry's shortened lease
// is not extended again).
func (k *leaseKeeper) release(l *lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.drop(l)
	for l.renewing > 0 {
		k.settled.Wait()
	}
}

// drop forgets l. Callers hold mu.
func (k *leaseKeeper) drop(l *lease) {
	if !l.held {
		return
	}
	l.held = false
	l.expiry.Stop()
	delete(k.held, l)
	if len(k.held) == 0 {
		signal(k.empty)
	}
}

// expire gives the job up: its lease could not be renewed for a whole
// lease period.
func (k *leaseKeeper) expire(l *lease) {
	if k.giveUp(l) {
		k.r.log.Warn("could not renew the lease for a whole lease period; leaving the job to others", "job", l.JobID)
	}
}

// lose gives the job up: the store says the lease is no longer ours.
func (k *leaseKeeper) lose(l *lease) { k.giveUp(l) }

// giveUp stops keeping l and stops its job (cause slackbot.ErrLeaseLost),
// once: it reports whether l was still held.
func (k *leaseKeeper) giveUp(l *lease) bool {
	k.mu.Lock()
	held := l.held
	k.drop(l)
	k.mu.Unlock()
	if held {
		l.cancel(slackbot.ErrLeaseLost)
	}
	return held
}

// renewed records a renewal of l made by a request that began at began.
func (k *leaseKeeper) renewed(l *lease, began time.Time, ttl time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !l.held {
		return
	}
	l.until = began.Add(ttl - leaseMargin(ttl))
	if l.expiry.Stop() { // not fired: it would have given the job up
		l.expiry.Reset(time.Until(l.until))
	}
}

// run renews the held leases every third of LeaseTTL until none is held,
// then closes stopped.
func (k *leaseKeeper) run(stopped chan struct{}) {
	t := time.NewTimer(k.r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-k.empty:
		}
		k.mu.Lock()
		if len(k.held) == 0 {
			k.running = false // the next hold starts it again
			close(stopped)
			k.mu.Unlock()
			return
		}
		k.mu.Unlock()
		k.renewHeld()
		t.Reset(k.r.cfg.LeaseTTL / 3)
	}
}

// renewHeld renews every held lease once.
func (k *leaseKeeper) renewHeld() {
	k.mu.Lock()
	batch := make([]*lease, 0, len(k.held))
	var deadline time.Time
	for l := range k.held {
		l.renewing++
		batch = append(batch, l)
		if deadline.IsZero() || l.until.Before(deadline) {
			deadline = l.until
		}
	}
	ttl := k.r.cfg.LeaseTTL
	k.mu.Unlock()
	if len(batch) == 0 {
		return
	}

	k.renew(batch, deadline, ttl)

	k.mu.Lock()
	for _, l := range batch {
		l.renewing--
	}
	k.settled.Broadcast()
	k.mu.Unlock()
}

// renew renews batch, by deadline: the earliest time one of its leases
// runs out, after which that job is given up anyway.
func (k *leaseKeeper) renew(batch []*lease, deadline time.Time, ttl time.Duration) {
	store := k.r.cfg.Store
	lr, ok := store.(LeaseRenewer)
	if !ok {
		for _, l := range batch {
			k.renewOne(store, l, ttl)
		}
		return
	}
	held := make([]slackbot.Lease, len(batch))
	for i, l := range batch {
		held[i] = l.Lease
	}
	began := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	lost, err := lr.RenewLeases(ctx, held, ttl)
	cancel()
	if err != nil {
		k.r.log.Warn("renew leases", "leases", len(batch), "err", err)
		return
	}
	gone := make(map[slackbot.Lease]bool, len(lost))
	for _, l := range lost {
		gone[l] = true
	}
	for _, l := range batch {
		if gone[l.Lease] {
			k.lose(l)
		} else {
			k.renewed(l, began, ttl)
		}
	}
}

// renewOne renews one lease with RenewLease, by the time it runs out and
// at most while its job works.
func (k *leaseKeeper) renewOne(store Store, l *lease, ttl time.Duration) {
	k.mu.Lock()
	until := l.until
	k.mu.Unlock()
	began := time.Now()
	ctx, cancel := context.WithDeadline(l.ctx, until)
	err := store.RenewLease(ctx, l.JobID, l.Owner, ttl)
	cancel()
	switch {
	case err == nil:
		k.renewed(l, began, ttl)
	case errors.Is(err, slackbot.ErrLeaseLost), errors.Is(err, slackbot.ErrNotFound):
		k.lose(l)
	case l.ctx.Err() == nil:
		k.r.log.Warn("renew lease", "job", l.JobID, "err", err)
	}
}
