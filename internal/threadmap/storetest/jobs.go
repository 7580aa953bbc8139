package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

const (
	threadA = "1700000000.000100"
	threadB = "1700000000.000200"
)

func testAddJobDedupe(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	_, err := s.Job(ctx, "missing")
	wantErr(t, "Job(missing)", err, slackbot.ErrNotFound)

	j := newJob("Ev0001", threadA)
	j.CreatedAt = time.Time{}
	inserted := make([]bool, Concurrency)
	errs := make([]error, Concurrency)
	var wg sync.WaitGroup
	for i := range Concurrency {
		wg.Go(func() { inserted[i], errs[i] = s.AddJob(t.Context(), j) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("AddJob: %v", err)
	}
	n := 0
	for _, ok := range inserted {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("AddJob: %d of %d callers inserted; want exactly 1", n, Concurrency)
	}

	clk.Advance(time.Minute)
	dup := j
	dup.Payload = []byte(`{"text":"other"}`)
	if ok, err := s.AddJob(ctx, dup); err != nil || ok {
		t.Fatalf("AddJob(duplicate) = %v, %v; want false, nil", ok, err)
	}

	got := mustJob(t, s, j.ID)
	want := slackbot.Job{
		ID: j.ID, Key: j.Key, ThreadID: slackbot.ThreadID(j.Key), Kind: "prompt", Payload: j.Payload,
		State: slackbot.JobAccepted, CreatedAt: Start.UTC().Truncate(time.Microsecond),
		UpdatedAt: Start.UTC().Truncate(time.Microsecond),
	}
	if !jobsEqual(got, want) {
		t.Fatalf("Job = %+v\nwant  %+v", got, want)
	}
	if got.Final() {
		t.Errorf("new job is Final")
	}
	mustUnfinished(t, s, threadA, 1)
	mustUnfinished(t, s, threadB, 0)
}

func testLeasePerThreadOrder(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	mustNoJob(t, s, "w1")
	mustAdd(t, s, newJob("a1", threadA), newJob("b1", threadB), newJob("a2", threadA))
	mustUnfinished(t, s, threadA, 2)

	a1 := mustLease(t, s, "w1", time.Minute, "a1")
	if a1.Attempts != 1 || !ownedBy(a1, "w1") || !a1.LeaseUntil.Equal(stamp(clk).Add(time.Minute)) {
		t.Errorf("leased a1: Attempts %d, LeaseOwner %q, LeaseUntil %v; want 1, w1/<token>, %v",
			a1.Attempts, a1.LeaseOwner, a1.LeaseUntil, stamp(clk).Add(time.Minute))
	}
	if stored := mustJob(t, s, "a1"); !jobsEqual(stored, a1) {
		t.Errorf("Job(a1) = %+v\nwant the leased job %+v", stored, a1)
	}
	mustLease(t, s, "w2", time.Minute, "b1")
	// a2 waits for a1, the older open job of its thread.
	mustNoJob(t, s, "w3")

	a1.State = slackbot.JobDone
	if err := s.UpdateJob(ctx, a1); err != nil {
		t.Fatalf("UpdateJob(a1 done): %v", err)
	}
	mustUnfinished(t, s, threadA, 1)
	mustLease(t, s, "w3", time.Minute, "a2")
	mustNoJob(t, s, "w4")
}

func testLeaseSkipsPaused(t *testing.T, s threadmap.Store, _ *Clock) {
	ctx := t.Context()
	mustAdd(t, s, newJob("a1", threadA), newJob("a2", threadA), newJob("b1", threadB))
	a1 := mustLease(t, s, "w1", time.Minute, "a1")
	a1.State, a1.RunID = slackbot.JobPaused, "run-1"
	if err := s.UpdateJob(ctx, a1); err != nil {
		t.Fatalf("UpdateJob(a1 paused): %v", err)
	}
	paused := mustJob(t, s, "a1")
	if paused.State != slackbot.JobPaused || paused.LeaseOwner != "" || !paused.LeaseUntil.IsZero() || paused.Final() {
		t.Fatalf("paused job = %+v; want paused, not final, without a lease", paused)
	}
	// The paused job is not worked, and it holds its thread's later jobs back.
	mustLease(t, s, "w2", time.Minute, "b1")
	mustNoJob(t, s, "w3")
	mustUnfinished(t, s, threadA, 2)
}

func testLeaseExpiredTakeover(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	mustAdd(t, s, newJob("a1", threadA))
	first := mustLease(t, s, "w1", time.Minute, "a1")
	mustNoJob(t, s, "w2")
	clk.Advance(30 * time.Second)
	mustNoJob(t, s, "w2")
	clk.Advance(31 * time.Second)

	taken := mustLease(t, s, "w2", time.Minute, "a1")
	if taken.Attempts != 2 || !ownedBy(taken, "w2") {
		t.Fatalf("taken over: Attempts %d, LeaseOwner %q; want 2, w2/<token>", taken.Attempts, taken.LeaseOwner)
	}
	first.State = slackbot.JobRunning
	wantErr(t, "UpdateJob by the old owner", s.UpdateJob(ctx, first), slackbot.ErrLeaseLost)
	wantErr(t, "RenewLease by the old owner", s.RenewLease(ctx, "a1", first.LeaseOwner, time.Minute), slackbot.ErrLeaseLost)
	wantErr(t, "ReleaseLease by the old owner", s.ReleaseLease(ctx, "a1", first.LeaseOwner), slackbot.ErrLeaseLost)
	wantErr(t, "RenewLease by the owner's bare name", s.RenewLease(ctx, "a1", "w2", time.Minute), slackbot.ErrLeaseLost)
	if got := mustJob(t, s, "a1"); got.LeaseOwner != taken.LeaseOwner || got.State != slackbot.JobAccepted {
		t.Fatalf("after the old owner's attempts: %+v; want untouched, leased by w2", got)
	}
}

func testRenewLease(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	mustAdd(t, s, newJob("a1", threadA))
	leased := mustLease(t, s, "w1", time.Minute, "a1")
	clk.Advance(50 * time.Second)
	if err := s.RenewLease(ctx, "a1", leased.LeaseOwner, time.Minute); err != nil {
		t.Fatalf("RenewLease: %v", err)
	}
	wantUntil := stamp(clk).Add(time.Minute)
	if got := mustJob(t, s, "a1"); !got.LeaseUntil.Equal(wantUntil) || got.LeaseOwner != leased.LeaseOwner {
		t.Fatalf("renewed lease = %q until %v; want w1 until %v", got.LeaseOwner, got.LeaseUntil, wantUntil)
	}
	clk.Advance(50 * time.Second) // past the first lease, within the renewed one
	mustNoJob(t, s, "w2")
	clk.Advance(11 * time.Second)
	mustLease(t, s, "w2", time.Minute, "a1")

	wantErr(t, "RenewLease(missing)", s.RenewLease(ctx, "missing", leased.LeaseOwner, time.Minute), slackbot.ErrNotFound)
	wantErr(t, "RenewLease with no owner", s.RenewLease(ctx, "a1", "", time.Minute), slackbot.ErrLeaseLost)
}

func testUpdateJob(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	mustAdd(t, s, newJob("a1", threadA))
	leased := mustLease(t, s, "w1", time.Minute, "a1")
	clk.Advance(10 * time.Second)

	running := leased
	running.State, running.RunID, running.ReplyTS = slackbot.JobRunning, "run-1", "1700000000.000300"
	running.LastEventID, running.Delivered, running.Error = "evt-7", 2, "transient"
	running.Payload = []byte(`{"text":"rewritten"}`)
	if err := s.UpdateJob(ctx, running); err != nil {
		t.Fatalf("UpdateJob(running): %v", err)
	}
	want := running
	want.UpdatedAt = stamp(clk)
	if got := mustJob(t, s, "a1"); !jobsEqual(got, want) {
		t.Fatalf("after UpdateJob: %+v\nwant %+v", got, want)
	}

	tests := []struct {
		name  string
		owner string
		id    string
		want  error
	}{
		{"another owner", "w2", "a1", slackbot.ErrLeaseLost},
		{"the owner's bare name", "w1", "a1", slackbot.ErrLeaseLost},
		{"no owner", "", "a1", slackbot.ErrLeaseLost},
		{"missing job", leased.LeaseOwner, "missing", slackbot.ErrNotFound},
	}
	for _, tc := range tests {
		j := running
		j.ID, j.LeaseOwner, j.State = tc.id, tc.owner, slackbot.JobFailed
		wantErr(t, "UpdateJob by "+tc.name, s.UpdateJob(ctx, j), tc.want)
	}

	done := running
	done.State, done.Delivered, done.Error = slackbot.JobDone, 3, ""
	if err := s.UpdateJob(ctx, done); err != nil {
		t.Fatalf("UpdateJob(done): %v", err)
	}
	got := mustJob(t, s, "a1")
	if !got.Final() || got.LeaseOwner != "" || !got.LeaseUntil.IsZero() || got.Delivered != 3 {
		t.Fatalf("done job = %+v; want final, Delivered 3, without a lease", got)
	}
	mustUnfinished(t, s, threadA, 0)
	wantErr(t, "UpdateJob after done", s.UpdateJob(ctx, done), slackbot.ErrLeaseLost)
	mustNoJob(t, s, "w2")
}

func testReleaseLease(t *testing.T, s threadmap.Store, _ *Clock) {
	ctx := t.Context()
	mustAdd(t, s, newJob("a1", threadA))
	leased := mustLease(t, s, "w1", time.Hour, "a1")
	if err := s.ReleaseLease(ctx, "a1", leased.LeaseOwner); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if got := mustJob(t, s, "a1"); got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
		t.Fatalf("released job lease = %q until %v; want none", got.LeaseOwner, got.LeaseUntil)
	}
	again := mustLease(t, s, "w2", time.Hour, "a1")
	if again.Attempts != 2 {
		t.Errorf("Attempts after release and re-lease = %d; want 2", again.Attempts)
	}
	wantErr(t, "ReleaseLease by the former owner", s.ReleaseLease(ctx, "a1", leased.LeaseOwner), slackbot.ErrLeaseLost)
	wantErr(t, "ReleaseLease(missing)", s.ReleaseLease(ctx, "missing", leased.LeaseOwner), slackbot.ErrNotFound)
}

// testLeaseConcurrent has workers race for jobs: every thread's first job is
// leased exactly once, and no thread's second job while its first is open.
func testLeaseConcurrent(t *testing.T, s threadmap.Store, _ *Clock) {
	const threads = 10
	for i := range threads {
		thread := fmt.Sprintf("17000000%02d.000100", i)
		mustAdd(t, s, newJob(fmt.Sprintf("first-%d", i), thread))
	}
	for i := range threads {
		thread := fmt.Sprintf("17000000%02d.000100", i)
		mustAdd(t, s, newJob(fmt.Sprintf("second-%d", i), thread))
	}

	var mu sync.Mutex
	leasedBy := map[string][]string{}
	errs := make([]error, Concurrency)
	var wg sync.WaitGroup
	for w := range Concurrency {
		wg.Go(func() {
			owner := fmt.Sprintf("w%d", w)
			for {
				j, err := s.LeaseNextJob(t.Context(), owner, time.Hour)
				if errors.Is(err, slackbot.ErrNoJob) {
					return
				}
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				leasedBy[j.ID] = append(leasedBy[j.ID], owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("LeaseNextJob: %v", err)
	}
	for i := range threads {
		first, second := fmt.Sprintf("first-%d", i), fmt.Sprintf("second-%d", i)
		if owners := leasedBy[first]; len(owners) != 1 {
			t.Errorf("%s leased by %v; want exactly one worker", first, owners)
		}
		if owners := leasedBy[second]; len(owners) != 0 {
			t.Errorf("%s leased by %v while %s is open; want none", second, owners, first)
		}
	}
}

// jobsEqual compares jobs field by field; times by instant.
func jobsEqual(a, b slackbot.Job) bool {
	return a.ID == b.ID && a.Key == b.Key && a.ThreadID == b.ThreadID && a.Kind == b.Kind &&
		bytes.Equal(a.Payload, b.Payload) && a.State == b.State && a.RunID == b.RunID && a.ReplyTS == b.ReplyTS &&
		a.LastEventID == b.LastEventID && a.Delivered == b.Delivered && a.Error == b.Error &&
		a.Attempts == b.Attempts && a.LeaseOwner == b.LeaseOwner && a.LeaseUntil.Equal(b.LeaseUntil) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// ownedBy reports whether j's lease was taken by a worker named owner: its
// LeaseOwner is the name, a slash and the lease's own token.
func ownedBy(j slackbot.Job, owner string) bool {
	name, token, ok := strings.Cut(j.LeaseOwner, "/")
	return ok && name == owner && token != ""
}

// testLeaseTokens: two workers that share a name (the workers of one
// replica) hold distinct leases; after a lease expires and the other worker
// takes the job, the first can neither renew nor save it.
func testLeaseTokens(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	mustAdd(t, s, newJob("a1", threadA), newJob("b1", threadB))
	first := mustLease(t, s, "replica-1", time.Minute, "a1")
	other := mustLease(t, s, "replica-1", time.Minute, "b1")
	if first.LeaseOwner == other.LeaseOwner {
		t.Fatalf("two leases of one worker name share LeaseOwner %q; want a token each", first.LeaseOwner)
	}
	clk.Advance(61 * time.Second)
	second := mustLease(t, s, "replica-1", time.Minute, "a1")
	if second.LeaseOwner == first.LeaseOwner {
		t.Fatalf("the lease taken over kept LeaseOwner %q; want a new token", second.LeaseOwner)
	}
	stale := first
	stale.State, stale.ReplyTS = slackbot.JobRunning, "1700000000.000900"
	wantErr(t, "UpdateJob with the expired token", s.UpdateJob(ctx, stale), slackbot.ErrLeaseLost)
	wantErr(t, "RenewLease with the expired token", s.RenewLease(ctx, "a1", first.LeaseOwner, time.Minute), slackbot.ErrLeaseLost)
	if got := mustJob(t, s, "a1"); got.LeaseOwner != second.LeaseOwner || got.ReplyTS != "" {
		t.Fatalf("after the stale worker's attempts: %+v; want untouched, leased by %s", got, second.LeaseOwner)
	}
	if _, err := s.LeaseNextJob(ctx, "", time.Minute); err == nil || errors.Is(err, slackbot.ErrNoJob) {
		t.Fatalf("LeaseNextJob with no owner name = %v; want an error", err)
	}
}

// testPruneFinished: finished jobs older than the cut and their cards go;
// open, paused and recent ones stay.
func testPruneFinished(t *testing.T, s threadmap.Store, clk *Clock) {
	p, ok := s.(threadmap.Pruner)
	if !ok {
		t.Skip("store does not implement threadmap.Pruner")
	}
	ctx := t.Context()
	finish := func(id, thread, state string) {
		t.Helper()
		mustAdd(t, s, newJob(id, thread))
		j := mustLease(t, s, "w1", time.Minute, id)
		j.State = state
		if err := s.UpdateJob(ctx, j); err != nil {
			t.Fatalf("UpdateJob(%s): %v", id, err)
		}
		if err := s.SaveCard(ctx, slackbot.Card{ID: "card-" + id, JobID: id, Key: j.Key}); err != nil {
			t.Fatalf("SaveCard: %v", err)
		}
	}
	finish("old-done", "1700000001.000100", slackbot.JobDone)
	finish("old-failed", "1700000002.000100", slackbot.JobFailed)
	finish("old-paused", "1700000003.000100", slackbot.JobPaused)
	clk.Advance(2 * time.Hour)
	finish("new-done", "1700000005.000100", slackbot.JobDone)
	mustAdd(t, s, newJob("old-open", "1700000004.000100"))

	got, err := p.PruneFinished(ctx, clk.Now().Add(-time.Hour))
	if err != nil || got != (slackbot.Pruned{Jobs: 2, Cards: 2}) {
		t.Fatalf("PruneFinished = %+v, %v; want 2 jobs, 2 cards", got, err)
	}
	for _, id := range []string{"old-done", "old-failed"} {
		if _, err := s.Job(ctx, id); !errors.Is(err, slackbot.ErrNotFound) {
			t.Errorf("Job(%s) after pruning = %v; want ErrNotFound", id, err)
		}
		if _, err := s.Card(ctx, "card-"+id); !errors.Is(err, slackbot.ErrNotFound) {
			t.Errorf("Card(card-%s) after pruning = %v; want ErrNotFound", id, err)
		}
	}
	for _, id := range []string{"old-paused", "old-open", "new-done"} {
		mustJob(t, s, id)
	}
	if _, err := s.Card(ctx, "card-old-paused"); err != nil {
		t.Errorf("card of the paused job after pruning: %v", err)
	}
}
