package relay

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// keeperRelay is a relay with only what its lease keeper uses.
func keeperRelay(store Store, ttl time.Duration) *Relay {
	r := &Relay{cfg: config{Store: store, LeaseTTL: ttl}, log: slog.New(slog.DiscardHandler)}
	r.leases = newLeaseKeeper(r)
	return r
}

// heldJob is a job added to store and leased by "replica" for ttl, and the
// time the lease was asked for.
func heldJob(t *testing.T, store threadmap.Store, id string, ttl time.Duration) (slackbot.Job, time.Time) {
	t.Helper()
	ctx := t.Context()
	if _, err := store.AddJob(ctx, slackbot.Job{ID: id, Key: slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}, Kind: kindPrompt}); err != nil {
		t.Fatal(err)
	}
	leasedAt := time.Now()
	j, err := store.(threadmap.JobLeaser).LeaseJob(ctx, id, "replica", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return j, leasedAt
}

// One renewal round renews, in one write, every lease the replica holds,
// and stops exactly the jobs whose lease it finds lost (cause
// ErrLeaseLost): taken over by another replica, or ended behind the
// worker's back. The others go on, with their leases extended.
func TestLeaseKeeperRoundStopsOnlyLostJobs(t *testing.T) {
	stores := map[string]func(t *testing.T) threadmap.Store{
		"sqlite":   openTestStore,
		"postgres": func(t *testing.T) threadmap.Store { return openDSN(t, postgresTestSchema(t)) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			if _, ok := store.(LeaseRenewer); !ok {
				t.Fatalf("%T renews leases one by one", store)
			}
			const ttl = time.Minute // the keeper's own ticks come after the test
			r := keeperRelay(store, ttl)
			ctx := t.Context()
			tests := []struct {
				id   string
				lose func(t *testing.T, j slackbot.Job) // what happens to the lease meanwhile
			}{
				{id: "kept"},
				{id: "kept-too"},
				{id: "taken-over", lose: func(t *testing.T, j slackbot.Job) {
					if err := store.ReleaseLease(ctx, j.ID, j.LeaseOwner); err != nil {
						t.Fatal(err)
					}
					if _, err := store.(threadmap.JobLeaser).LeaseJob(ctx, j.ID, "other-replica", ttl); err != nil {
						t.Fatal(err)
					}
				}},
				{id: "ended", lose: func(t *testing.T, j slackbot.Job) {
					j.State = slackbot.JobFailed
					if err := store.UpdateJob(ctx, j); err != nil {
						t.Fatal(err)
					}
				}},
			}
			jobs := make([]context.Context, len(tests))
			leases := make([]*lease, len(tests))
			before := make([]time.Time, len(tests))
			for i, tc := range tests {
				j, leasedAt := heldJob(t, store, tc.id, ttl)
				jctx, cancel := context.WithCancelCause(ctx)
				t.Cleanup(func() { cancel(nil) })
				jobs[i], leases[i] = jctx, r.leases.hold(jctx, cancel, j, leasedAt)
				before[i] = leases[i].until
				if tc.lose != nil {
					tc.lose(t, j)
				}
			}
			began := time.Now()
			r.leases.renewHeld()
			for i, tc := range tests {
				l := leases[i]
				r.leases.mu.Lock()
				held, until := l.held, l.until
				r.leases.mu.Unlock()
				if tc.lose != nil {
					if !errors.Is(context.Cause(jobs[i]), slackbot.ErrLeaseLost) || held {
						t.Errorf("%s: job cause %v, still held %v; want stopped (ErrLeaseLost) and let go", tc.id, context.Cause(jobs[i]), held)
					}
					continue
				}
				if jobs[i].Err() != nil || !held || !until.After(before[i]) || until.Before(began.Add(ttl-leaseMargin(ttl))) {
					t.Errorf("%s: job err %v, held %v, until %v (was %v); want going on, renewed from %v", tc.id, jobs[i].Err(), held, until, before[i], began)
				}
				j, err := store.Job(ctx, tc.id)
				if err != nil {
					t.Fatal(err)
				}
				if j.LeaseOwner != l.Owner || j.LeaseUntil.Before(began.Add(ttl-time.Second)) {
					t.Errorf("%s: stored lease %q until %v; want ours, extended to about %v", tc.id, j.LeaseOwner, j.LeaseUntil, began.Add(ttl))
				}
			}
			for _, l := range leases {
				r.leases.release(l)
			}
		})
	}
}

// failingRenewals is a store whose database cannot be reached for
// renewals, one at a time.
type failingRenewals struct {
	threadmap.Store
	calls atomic.Int32
}

func (s *failingRenewals) RenewLease(context.Context, string, string, time.Duration) error {
	s.calls.Add(1)
	return errors.New("database unreachable")
}

// failingBatches is a store whose database cannot be reached for
// renewals in one write.
type failingBatches struct {
	failingRenewals
}

func (s *failingBatches) RenewLeases(context.Context, []slackbot.Lease, time.Duration) ([]slackbot.Lease, error) {
	s.calls.Add(1)
	return nil, errors.New("database unreachable")
}

// A worker whose lease cannot be renewed gives the job up by itself
// before the lease runs out, so no other worker can take it while it still
// acts, whether leases are renewed one by one or together.
func TestLeaseKeeperStopsBeforeTheLeaseRunsOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store interface {
			Store
			renewals() int32
		}
	}{
		{"one at a time", &failingRenewals{}},
		{"in one write", &failingBatches{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := keeperRelay(tc.store, 300*time.Millisecond)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			l := r.leases.hold(ctx, cancel, slackbot.Job{ID: "j1", LeaseOwner: "w/t"}, time.Now())
			defer r.leases.release(l)
			select {
			case <-ctx.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("the worker kept the job although no renewal succeeded")
			}
			if !errors.Is(context.Cause(ctx), slackbot.ErrLeaseLost) {
				t.Errorf("cause = %v; want ErrLeaseLost", context.Cause(ctx))
			}
			if tc.store.renewals() == 0 {
				t.Errorf("stopped without trying to renew")
			}
		})
	}
}

func (s *failingRenewals) renewals() int32 { return s.calls.Load() }

// blockingBatches is a store whose renewals in one write hold until
// unblocked.
type blockingBatches struct {
	threadmap.Store
	entered, unblock chan struct{}
	returned         atomic.Bool
}

func (s *blockingBatches) RenewLeases(ctx context.Context, held []slackbot.Lease, ttl time.Duration) ([]slackbot.Lease, error) {
	close(s.entered)
	<-s.unblock
	s.returned.Store(true)
	return nil, nil
}

// Letting a lease go waits for a renewal under way that includes it, so
// that no write of the lease lands afterwards (a retry shortens the lease
// to its backoff right after); the renewal, shared by the replica's other
// leases, is not cut short for it.
func TestLeaseReleaseWaitsForARenewalUnderWay(t *testing.T) {
	store := &blockingBatches{entered: make(chan struct{}), unblock: make(chan struct{})}
	r := keeperRelay(store, time.Minute)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	l := r.leases.hold(ctx, cancel, slackbot.Job{ID: "j1", LeaseOwner: "w/t"}, time.Now())
	go r.leases.renewHeld()
	<-store.entered
	released := make(chan bool)
	go func() {
		r.leases.release(l)
		released <- store.returned.Load()
	}()
	close(store.unblock)
	if !<-released {
		t.Fatal("release returned while a renewal of the lease was under way")
	}
	if ctx.Err() != nil {
		t.Errorf("the job was stopped: %v", context.Cause(ctx))
	}
}

// A run whose lease the renewal round finds lost (another replica took the
// job over) stops being followed: work returns, and leaves the job to the
// replica that holds it now, untouched.
func TestLostLeaseStopsTheRunsFollower(t *testing.T) {
	store := openTestStore(t)
	hold := make(chan struct{}) // the run goes on until the test ends
	r, _ := newTestRelay(t, "replica-a", store, func(agentstest.Turn) []agentstest.Step {
		<-hold
		return []agentstest.Step{agentstest.Text("too late")}
	})
	t.Cleanup(func() { close(hold) }) // before the runtime closes
	// The keeper's own ticks come after the test.
	r.cfg.LeaseTTL = time.Minute
	ticket := startTestRun(t, r)
	leasedAt := time.Now()
	job, err := store.(threadmap.JobLeaser).LeaseJob(t.Context(), ticket.JobID, "replica-a", r.cfg.LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.work(t.Context(), job, leasedAt)
	}()
	// The run is started and followed once the job records it running.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if j, err := store.Job(t.Context(), job.ID); err == nil && j.State == slackbot.JobRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run was never followed")
		}
	}
	// Replica B takes the job over (as after an expiry of the lease).
	if err := store.ReleaseLease(t.Context(), job.ID, job.LeaseOwner); err != nil {
		t.Fatal(err)
	}
	taken, err := store.(threadmap.JobLeaser).LeaseJob(t.Context(), job.ID, "replica-b", r.cfg.LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	r.leases.renewHeld()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the run was still followed after its lease was found lost")
	}
	j, err := store.Job(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.LeaseOwner != taken.LeaseOwner || j.State != slackbot.JobRunning || !strings.HasPrefix(j.LeaseOwner, "replica-b/") {
		t.Errorf("job after replica A stopped: %s, leased by %q; want running, still replica B's", j.State, j.LeaseOwner)
	}
}

// The keeper's goroutine is owned: once no lease is held, wait (which
// Relay.Close calls) returns only after it has returned; while a worker
// still holds a lease, wait does not block on that worker's keeper.
func TestLeaseKeeperWaitOwnsItsGoroutine(t *testing.T) {
	r := keeperRelay(&failingBatches{}, time.Hour)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	wctx, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	for round := range 3 { // the goroutine starts again with the next lease
		l := r.leases.hold(ctx, cancel, slackbot.Job{ID: "j1", LeaseOwner: "w/t"}, time.Now())
		if err := r.leases.wait(wctx); err != nil {
			t.Fatalf("round %d: wait with a lease held = %v, want nil at once", round, err)
		}
		r.leases.release(l)
		if err := r.leases.wait(wctx); err != nil {
			t.Fatalf("round %d: wait = %v", round, err)
		}
		r.leases.mu.Lock()
		running, stopped := r.leases.running, r.leases.stopped
		r.leases.mu.Unlock()
		select {
		case <-stopped:
		default:
			t.Fatalf("round %d: wait returned while the keeper's goroutine runs (running %v)", round, running)
		}
	}
}
