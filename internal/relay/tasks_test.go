package relay

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// Close waits for work that is running, then refuses more.
func TestTasksCloseWaitsForRunningWork(t *testing.T) {
	ts := newTasks()
	release := make(chan struct{})
	var finished atomic.Bool
	if err := ts.Go(func(context.Context) {
		<-release
		finished.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan bool)
	go func() {
		if err := ts.Close(t.Context()); err != nil {
			t.Error(err)
		}
		closed <- finished.Load()
	}()
	// Once work is refused, Close has begun; it cannot end before release.
	for ts.Go(func(context.Context) {}) == nil {
		runtime.Gosched()
	}
	select {
	case <-closed:
		t.Fatal("Close returned while work was still running")
	default:
	}
	close(release)
	if !<-closed {
		t.Fatal("Close returned before the work finished")
	}
	if err := ts.Go(func(context.Context) {}); !errors.Is(err, errClosed) {
		t.Errorf("Go after Close = %v; want errClosed", err)
	}
}

// At its deadline Close cancels what is left and still waits for it to
// return, so no background work outlives it.
func TestTasksCloseCancelsAtItsDeadline(t *testing.T) {
	ts := newTasks()
	var sawCancel atomic.Bool
	if err := ts.Go(func(ctx context.Context) {
		<-ctx.Done()
		sawCancel.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := ts.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v; want it cut short", err)
	}
	if !sawCancel.Load() {
		t.Error("Close returned before the cancelled work did")
	}
}

// Reactions, an ephemeral note and suggested prompts queued just before
// shutdown reach Slack: Close waits for them instead of letting the process
// exit under them.
func TestCloseDeliversBackgroundSlackCalls(t *testing.T) {
	r, fake := newTestRelay(t, "bot", openTestStore(t), agentstest.Scripted(agentstest.Text("unused")))
	r.cfg.Reactions = true
	ts := fake.UserMessage("C0TASKS01", "U0TASKS01", "hello", "")
	r.react("C0TASKS01", ts, reactWorking)
	r.unreact("C0TASKS01", ts, reactWorking)
	r.react("C0TASKS01", ts, reactDone)
	r.background(func(ctx context.Context) error { return r.cfg.Slack.Ephemeral(ctx, "C0TASKS01", "U0TASKS01", "a note") })

	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := fake.Reactions("C0TASKS01", ts); !slices.Equal(got, []string{reactDone}) {
		t.Errorf("reactions after Close = %v; want [%s]", got, reactDone)
	}
	if got := fake.Ephemerals(); len(got) != 1 {
		t.Errorf("ephemerals after Close = %+v; want the note", got)
	}
	// Work offered after Close is dropped, not started behind its back.
	r.react("C0TASKS01", ts, reactWorking)
	r.background(func(ctx context.Context) error { return r.cfg.Slack.Ephemeral(ctx, "C0TASKS01", "U0TASKS01", "late") })
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := fake.Reactions("C0TASKS01", ts); !slices.Equal(got, []string{reactDone}) {
		t.Errorf("reactions after a late react = %v; want [%s]", got, reactDone)
	}
	if got := fake.Ephemerals(); len(got) != 1 {
		t.Errorf("ephemerals after a late note = %+v; want only the first", got)
	}
}

// renewalWatch is a store whose lease renewals hold until their context
// ends, and whose Job waits for a renewal to begin: a job can then finish
// only while the lease keeper is inside a renewal of its lease.
type renewalWatch struct {
	threadmap.Store
	entered  chan struct{}
	returned atomic.Bool
	once     atomic.Bool
}

func (s *renewalWatch) RenewLease(ctx context.Context, _, _ string, _ time.Duration) error {
	if s.once.CompareAndSwap(false, true) {
		close(s.entered)
	}
	<-ctx.Done()
	s.returned.Store(true)
	return ctx.Err()
}

func (s *renewalWatch) Job(ctx context.Context, id string) (slackbot.Job, error) {
	<-s.entered
	return s.Store.Job(ctx, id)
}

// work returns only after the job's lease keeper did: the keeper is
// cancelled and joined, never left renewing a lease nobody uses.
func TestWorkJoinsItsLeaseKeeper(t *testing.T) {
	base := openTestStore(t)
	store := &renewalWatch{Store: base, entered: make(chan struct{})}
	r, _ := newTestRelay(t, "bot", store, agentstest.Scripted(agentstest.Text("unused")))
	r.cfg.LeaseTTL = 3 * time.Second // the renewal it holds ends only with the job, not at its deadline
	ticket := startTestRun(t, r)
	leasedAt := time.Now()
	job, err := base.(threadmap.JobLeaser).LeaseJob(t.Context(), ticket.JobID, "bot", r.cfg.LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	job.Kind = "no-such-kind" // a permanent failure: work gives the job up at once
	r.work(t.Context(), job, leasedAt)
	if !store.returned.Load() {
		t.Fatal("work returned while its lease keeper was still renewing")
	}
	if got, _ := base.Job(t.Context(), job.ID); got.State != slackbot.JobFailed {
		t.Errorf("job state = %s; want failed (given up)", got.State)
	}
}
