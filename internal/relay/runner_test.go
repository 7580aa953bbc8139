package relay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
	"github.com/deepagents-slack/slackbot/internal/threadmap/storetest"
)

// wakeCounts counts the dispatcher's wakes by source.
type wakeCounts struct {
	nopMetrics
	mu sync.Mutex
	n  map[string]int
}

func (w *wakeCounts) DispatcherWoken(source string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n[source]++
}

func (w *wakeCounts) get(source string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[source]
}

// runRelay runs r until the test ends.
func runRelay(t *testing.T, r *Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// awaitJob waits until the job is final; the deadline only keeps a broken
// dispatcher from hanging the test.
func awaitJob(t *testing.T, store threadmap.Store, id string) slackbot.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := store.Job(t.Context(), id)
		if err == nil && j.Final() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not final: %+v, %v", id, j, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A job recorded by this replica wakes its dispatcher at once: with a
// fallback poll far beyond the test, the runs are still answered. The
// first job may be found by the lease the dispatcher makes as it starts;
// once it is done the dispatcher leases again only when woken, and only
// this process can wake it.
func TestDispatcherWokenByLocalWork(t *testing.T) {
	store := openTestStore(t)
	r, _ := newTestRelay(t, "replica", store, agentstest.Scripted(agentstest.Text("pong")))
	wakes := &wakeCounts{n: map[string]int{}}
	r.metrics, r.cfg.PollInterval = wakes, time.Hour
	runRelay(t, r)
	for range 2 {
		ticket := startTestRun(t, r)
		if j := awaitJob(t, store, ticket.JobID); j.State != slackbot.JobDone {
			t.Fatalf("job %s: %s", j.State, j.Error)
		}
	}
	if wakes.get(WokenLocal) == 0 || wakes.get(WokenPoll) != 0 || wakes.get(WokenListen) != 0 {
		t.Errorf("wakes %v; want local ones only", wakes.n)
	}
}

// A job recorded through another store instance (another replica) wakes
// this replica's dispatcher through PostgreSQL LISTEN/NOTIFY. The listener's
// first wake is only consumed once the dispatcher's start-up lease found
// nothing; after it the dispatcher leases only when woken, the fallback
// poll never fires during the test, and this process wakes itself only
// after working a job: the job can only have been found through the
// notification.
func TestDispatcherWokenByAnotherReplica(t *testing.T) {
	dsn := postgresTestSchema(t)
	storeA, storeB := openDSN(t, dsn), openDSN(t, dsn)
	a, _ := newTestRelay(t, "replica-a", storeA, agentstest.Scripted(agentstest.Text("pong")))
	b, _ := newTestRelay(t, "replica-b", storeB, agentstest.Scripted(agentstest.Text("pong")))
	wakes := &wakeCounts{n: map[string]int{}}
	a.metrics, a.cfg.PollInterval = wakes, time.Hour
	// Wired as cmd/bot wires a PostgreSQL store. b only records: it never
	// runs.
	a.cfg.Listener = storeA.(JobListener)
	runRelay(t, a)
	// The listener's first wake says it listens; from then on nothing is
	// missed.
	for deadline := time.Now().Add(30 * time.Second); wakes.get(WokenListen) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher never began listening")
		}
	}
	ticket := startTestRun(t, b)
	j := awaitJob(t, storeB, ticket.JobID)
	if j.State != slackbot.JobDone {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	if wakes.get(WokenListen) < 2 || wakes.get(WokenPoll) != 0 {
		t.Errorf("wakes %v; want the job announced by notification (listen ≥ 2) and no poll", wakes.n)
	}
}

func openDSN(t *testing.T, dsn string) threadmap.Store {
	t.Helper()
	s, err := threadmap.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresTestSchema is an empty schema of its own for one relay test.
func postgresTestSchema(t *testing.T) string { return storetest.PostgresSchema(t, "relay_test") }

// droppingListener fails its first listen at once (PostgreSQL restarting),
// then listens: it wakes once and holds until ctx ends.
type droppingListener struct {
	mu    sync.Mutex
	calls int
}

func (l *droppingListener) ListenJobs(ctx context.Context, wake func()) error {
	l.mu.Lock()
	l.calls++
	first := l.calls == 1
	l.mu.Unlock()
	if first {
		return errors.New("connection refused")
	}
	wake()
	<-ctx.Done()
	return nil
}

// A listener that stops is started again: after a dropped connection the
// replica listens again instead of polling until it restarts.
func TestListenerStartedAgainAfterItStops(t *testing.T) {
	r, _ := newTestRelay(t, "replica", openTestStore(t), agentstest.Scripted(agentstest.Text("pong")))
	l := &droppingListener{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.listenLoop(ctx, l)
	}()
	select {
	case <-r.listenWake: // only the second listen wakes
	case <-time.After(30 * time.Second):
		t.Fatal("the listener was not started again after it stopped")
	}
	cancel()
	<-done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls != 2 {
		t.Errorf("ListenJobs called %d times; want 2", l.calls)
	}
}
