package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// pausedJob adds a job, leases it and pauses it the way a worker does when
// its run is interrupted.
func pausedJob(t *testing.T, s threadmap.Store, id, thread string) slackbot.Job {
	t.Helper()
	mustAdd(t, s, newJob(id, thread))
	j := mustLease(t, s, "w1", time.Minute, id)
	j.State, j.RunID, j.ReplyTS, j.LastEventID, j.Delivered, j.Error =
		slackbot.JobPaused, "run-1", "1700000000.000300", "evt-9", 1, "interrupted"
	if err := s.UpdateJob(t.Context(), j); err != nil {
		t.Fatalf("UpdateJob(paused): %v", err)
	}
	return j
}

func newCard(id string, job slackbot.Job) slackbot.Card {
	return slackbot.Card{
		ID: id, JobID: job.ID, Key: job.Key, ChannelID: job.Key.ChannelID, MessageTS: "1700000000.000400",
		StartedBy: "U1", Interrupt: []byte(`{"action_requests":[{"name":"write_file"}]}`),
	}
}

func testCards(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	_, err := s.Card(ctx, "missing")
	wantErr(t, "Card(missing)", err, slackbot.ErrNotFound)
	_, _, err = s.DecideCard(ctx, "missing", "U1", []byte(`{}`), []byte(`{}`), clk.Now())
	wantErr(t, "DecideCard(missing)", err, slackbot.ErrNotFound)

	job := pausedJob(t, s, "a1", threadA)
	card := newCard("card-1", job)
	if err := s.SaveCard(ctx, card); err != nil {
		t.Fatalf("SaveCard: %v", err)
	}
	want := card
	want.ThreadID, want.CreatedAt = slackbot.ThreadID(job.Key), stamp(clk)
	got, err := s.Card(ctx, "card-1")
	if err != nil || !cardsEqual(got, want) || got.Decided() {
		t.Fatalf("Card = %+v, %v\nwant undecided %+v", got, err, want)
	}

	// An undecided card may be replaced, e.g. once its message is posted.
	card.MessageTS = "1700000000.000500"
	if err := s.SaveCard(ctx, card); err != nil {
		t.Fatalf("SaveCard(replace): %v", err)
	}
	if got, _ := s.Card(ctx, "card-1"); got.MessageTS != card.MessageTS {
		t.Fatalf("replaced card MessageTS = %s; want %s", got.MessageTS, card.MessageTS)
	}

	_, _, err = s.DecideCard(ctx, "card-1", "", []byte(`{}`), []byte(`{}`), clk.Now())
	if err == nil {
		t.Fatalf("DecideCard by nobody succeeded; want an error")
	}

	clk.Advance(time.Minute)
	decision, resume := []byte(`{"type":"approve"}`), []byte(`{"decisions":[{"type":"approve"}]}`)
	decidedAt := clk.Now().Add(-time.Second)
	decided, ok, err := s.DecideCard(ctx, "card-1", "U2", decision, resume, decidedAt)
	if err != nil || !ok {
		t.Fatalf("DecideCard = %v, %v; want true", ok, err)
	}
	if decided.DecidedBy != "U2" || !bytes.Equal(decided.Decision, decision) ||
		!decided.DecidedAt.Equal(decidedAt.Truncate(time.Microsecond)) || !decided.Decided() {
		t.Fatalf("decided card = %+v; want decided by U2 at %v", decided, decidedAt)
	}
	resumed := mustJob(t, s, "a1")
	checkResumed(t, resumed, resume, stamp(clk))

	// A later save must not undo the decision.
	if err := s.SaveCard(ctx, card); err != nil {
		t.Fatalf("SaveCard(decided card): %v", err)
	}
	if got, _ := s.Card(ctx, "card-1"); !cardsEqual(got, decided) {
		t.Fatalf("after saving over a decided card: %+v\nwant %+v", got, decided)
	}

	// The resume job is worked once; a second decision changes nothing.
	leased := mustLease(t, s, "w2", time.Minute, "a1")
	if leased.Kind != "resume" {
		t.Fatalf("leased Kind = %s; want resume", leased.Kind)
	}
	again, ok, err := s.DecideCard(ctx, "card-1", "U3", []byte(`{"type":"reject"}`), []byte(`{}`), clk.Now())
	if err != nil || ok || !cardsEqual(again, decided) {
		t.Fatalf("second DecideCard = %+v, %v, %v; want the first decision unchanged, false", again, ok, err)
	}
	if got := mustJob(t, s, "a1"); got.LeaseOwner != leased.LeaseOwner || got.State != slackbot.JobAccepted || !bytes.Equal(got.Payload, resume) {
		t.Fatalf("job after a second decision = %+v; want still leased by w2 with the first resume", got)
	}
}

func testDecideCardConcurrent(t *testing.T, s threadmap.Store, clk *Clock) {
	job := pausedJob(t, s, "a1", threadA)
	if err := s.SaveCard(t.Context(), newCard("card-1", job)); err != nil {
		t.Fatalf("SaveCard: %v", err)
	}
	type result struct {
		card slackbot.Card
		ok   bool
		err  error
	}
	results := make([]result, Concurrency)
	var wg sync.WaitGroup
	for i := range Concurrency {
		wg.Go(func() {
			by := fmt.Sprintf("U%d", i)
			decision, resume := fmt.Appendf(nil, `{"by":%d}`, i), fmt.Appendf(nil, `{"resume":%d}`, i)
			c, ok, err := s.DecideCard(t.Context(), "card-1", by, decision, resume, clk.Now())
			results[i] = result{c, ok, err}
		})
	}
	wg.Wait()

	winner := -1
	var errs []error
	for i, r := range results {
		errs = append(errs, r.err)
		if r.ok {
			if winner >= 0 {
				t.Fatalf("DecideCard: callers %d and %d both decided", winner, i)
			}
			winner = i
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("DecideCard: %v", err)
	}
	if winner < 0 {
		t.Fatalf("DecideCard: no caller decided")
	}
	for i, r := range results {
		if r.card.DecidedBy != fmt.Sprintf("U%d", winner) || !bytes.Equal(r.card.Decision, fmt.Appendf(nil, `{"by":%d}`, winner)) {
			t.Errorf("caller %d got card decided by %q with %s; want the winner U%d's decision", i, r.card.DecidedBy, r.card.Decision, winner)
		}
	}
	checkResumed(t, mustJob(t, s, "a1"), fmt.Appendf(nil, `{"resume":%d}`, winner), stamp(clk))
	mustLease(t, s, "w2", time.Minute, "a1")
	mustNoJob(t, s, "w3")
}

// testDecideCardJobNotPaused: a decision on a card whose job is not paused
// (already resumed some other way, or failed) is recorded, and the job is
// left alone.
func testDecideCardJobNotPaused(t *testing.T, s threadmap.Store, clk *Clock) {
	mustAdd(t, s, newJob("a1", threadA))
	running := mustLease(t, s, "w1", time.Minute, "a1")
	running.State = slackbot.JobRunning
	if err := s.UpdateJob(t.Context(), running); err != nil {
		t.Fatalf("UpdateJob(running): %v", err)
	}
	if err := s.SaveCard(t.Context(), newCard("card-1", running)); err != nil {
		t.Fatalf("SaveCard: %v", err)
	}
	before := mustJob(t, s, "a1")
	if _, ok, err := s.DecideCard(t.Context(), "card-1", "U2", []byte(`{}`), []byte(`{"x":1}`), clk.Now()); err != nil || !ok {
		t.Fatalf("DecideCard = %v, %v; want true", ok, err)
	}
	if after := mustJob(t, s, "a1"); !jobsEqual(after, before) {
		t.Fatalf("job changed by a decision although not paused:\n%+v\nwas %+v", after, before)
	}
}

func checkResumed(t *testing.T, j slackbot.Job, resume []byte, at time.Time) {
	t.Helper()
	if j.State != slackbot.JobAccepted || j.Kind != "resume" || !bytes.Equal(j.Payload, resume) ||
		j.RunID != "" || j.ReplyTS != "" || j.LastEventID != "" || j.Delivered != 0 || j.Error != "" ||
		j.LeaseOwner != "" || !j.LeaseUntil.IsZero() || !j.UpdatedAt.Equal(at) || j.Attempts != 0 {
		t.Fatalf("job after decision = %+v\nwant accepted resume with payload %s, run fields and attempts cleared, no lease, updated %v",
			j, resume, at)
	}
}

// cardsEqual compares cards field by field; times by instant.
func cardsEqual(a, b slackbot.Card) bool {
	return a.ID == b.ID && a.JobID == b.JobID && a.Key == b.Key && a.ThreadID == b.ThreadID &&
		a.ChannelID == b.ChannelID && a.MessageTS == b.MessageTS && a.StartedBy == b.StartedBy &&
		bytes.Equal(a.Interrupt, b.Interrupt) && bytes.Equal(a.Decision, b.Decision) && a.DecidedBy == b.DecidedBy &&
		a.DecidedAt.Equal(b.DecidedAt) && a.CreatedAt.Equal(b.CreatedAt)
}

// testResumeJob: a decision that landed before its job was paused is
// applied by ResumeJob once the worker has paused it, exactly once.
func testResumeJob(t *testing.T, s threadmap.Store, clk *Clock) {
	mustAdd(t, s, newJob("r1", threadA))
	running := mustLease(t, s, "w1", time.Minute, "r1")
	if ok, err := s.ResumeJob(t.Context(), "r1", []byte(`{"early":true}`)); err != nil || ok {
		t.Fatalf("ResumeJob(running job) = %v, %v; want false", ok, err)
	}
	running.State = slackbot.JobPaused
	if err := s.UpdateJob(t.Context(), running); err != nil {
		t.Fatalf("UpdateJob(paused): %v", err)
	}
	resume := []byte(`{"decisions":[{"type":"approve"}]}`)
	if ok, err := s.ResumeJob(t.Context(), "r1", resume); err != nil || !ok {
		t.Fatalf("ResumeJob(paused job) = %v, %v; want true", ok, err)
	}
	checkResumed(t, mustJob(t, s, "r1"), resume, stamp(clk))
	if ok, err := s.ResumeJob(t.Context(), "r1", []byte(`{"again":true}`)); err != nil || ok {
		t.Fatalf("second ResumeJob = %v, %v; want false", ok, err)
	}
	if ok, err := s.ResumeJob(t.Context(), "missing", resume); err != nil || ok {
		t.Fatalf("ResumeJob(missing) = %v, %v; want false, nil", ok, err)
	}
}
