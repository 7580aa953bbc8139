package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// A stop whose cancel did not take is withdrawn, only by who made it.
func testWithdrawStop(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	st := slackbot.Stop{JobID: "j1", RunID: "r1", StoppedBy: "U1", StoppedAt: clk.Now()}
	if _, first, err := s.RecordStop(ctx, st); err != nil || !first {
		t.Fatalf("RecordStop = %v, %v; want first", first, err)
	}
	tests := []struct {
		name string
		st   slackbot.Stop
		want bool
	}{
		{"another user's", slackbot.Stop{JobID: "j1", RunID: "r1", StoppedBy: "U2"}, false},
		{"another run's", slackbot.Stop{JobID: "j1", RunID: "r2", StoppedBy: "U1"}, false},
		{"another job's", slackbot.Stop{JobID: "j2", RunID: "r1", StoppedBy: "U1"}, false},
		{"its own", st, true},
		{"its own again", st, false},
	}
	for _, tc := range tests {
		got, err := s.WithdrawStop(ctx, tc.st)
		if err != nil || got != tc.want {
			t.Errorf("WithdrawStop(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := s.StopOf(ctx, "j1"); !errors.Is(err, slackbot.ErrNotFound) {
		t.Fatalf("StopOf after withdrawal: %v, want ErrNotFound", err)
	}
	// Withdrawn, the job can be stopped again (by anyone allowed).
	if _, first, err := s.RecordStop(ctx, slackbot.Stop{JobID: "j1", RunID: "r1", StoppedBy: "U2"}); err != nil || !first {
		t.Fatalf("RecordStop after withdrawal = %v, %v; want first", first, err)
	}
}

// CurrentJob is a thread's oldest unfinished job, whatever its state.
func testCurrentJob(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	if _, err := s.CurrentJob(ctx, slackbot.ThreadID(key(threadA))); !errors.Is(err, slackbot.ErrNotFound) {
		t.Fatalf("CurrentJob of an empty thread: %v, want ErrNotFound", err)
	}
	mustAdd(t, s, newJob("a1", threadA), newJob("b1", threadB), newJob("a2", threadA))
	a1 := mustLease(t, s, "w1", time.Minute, "a1")
	a1.State, a1.RunID = slackbot.JobRunning, "run-1"
	if err := s.UpdateJob(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CurrentJob(ctx, slackbot.ThreadID(key(threadA))); err != nil || got.ID != "a1" || got.RunID != "run-1" {
		t.Fatalf("CurrentJob = %s (run %q), %v; want a1 running run-1", got.ID, got.RunID, err)
	}
	a1.State = slackbot.JobDone
	if err := s.UpdateJob(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CurrentJob(ctx, slackbot.ThreadID(key(threadA))); err != nil || got.ID != "a2" {
		t.Fatalf("CurrentJob after a1 finished = %s, %v; want a2", got.ID, err)
	}
}

// The newest event's context channel wins, whatever order events arrive in.
func testAssistantContext(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	k := slackbot.Key{TeamID: "T0001", ChannelID: "D0001", RootTS: "1700000000.000100"}
	if _, err := s.AssistantContextOf(ctx, k); !errors.Is(err, slackbot.ErrNotFound) {
		t.Fatalf("AssistantContextOf before any: %v, want ErrNotFound", err)
	}
	t0 := clk.Now()
	steps := []struct {
		channel string
		at      time.Time
		stored  bool
		want    string
	}{
		{"C1", t0, true, "C1"},
		{"C2", t0.Add(time.Second), true, "C2"},
		{"C1", t0.Add(500 * time.Millisecond), false, "C2"}, // a late redelivery of an older change
		{"C2", t0.Add(time.Second), true, "C2"},             // the same event again
		{"C3", t0.Add(2 * time.Second), true, "C3"},
	}
	for i, st := range steps {
		stored, err := s.SetAssistantContext(ctx, slackbot.AssistantContext{Key: k, ChannelID: st.channel, EventAt: st.at})
		if err != nil || stored != st.stored {
			t.Fatalf("%d: SetAssistantContext(%s) = %v, %v; want %v", i, st.channel, stored, err, st.stored)
		}
		got, err := s.AssistantContextOf(ctx, k)
		if err != nil || got.ChannelID != st.want {
			t.Fatalf("%d: AssistantContextOf = %+v, %v; want %s", i, got, err, st.want)
		}
	}
	other := k
	other.RootTS = "1700000000.000200"
	if _, err := s.AssistantContextOf(ctx, other); !errors.Is(err, slackbot.ErrNotFound) {
		t.Errorf("another thread's context: %v, want ErrNotFound", err)
	}
	if _, err := s.SetAssistantContext(ctx, slackbot.AssistantContext{Key: k}); err == nil {
		t.Error("SetAssistantContext without a channel: want an error")
	}
}
