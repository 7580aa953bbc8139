package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

func testFeedbackOncePerUser(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := context.Background()
	tests := []struct {
		f    slackbot.Feedback
		want bool
	}{
		{slackbot.Feedback{JobID: "j1", UserID: "U1", RunID: "r1", Score: 1}, true},
		{slackbot.Feedback{JobID: "j1", UserID: "U1", RunID: "r1", Score: 0}, false}, // first verdict stands
		{slackbot.Feedback{JobID: "j1", UserID: "U2", RunID: "r1", Score: 0}, true},
		{slackbot.Feedback{JobID: "j2", UserID: "U1", RunID: "r2", Score: 0}, true},
	}
	for i, tc := range tests {
		got, err := s.RecordFeedback(ctx, tc.f)
		if err != nil {
			t.Fatalf("%d: RecordFeedback: %v", i, err)
		}
		if got != tc.want {
			t.Errorf("%d: RecordFeedback(%+v) = %v, want %v", i, tc.f, got, tc.want)
		}
	}
	if _, err := s.RecordFeedback(ctx, slackbot.Feedback{JobID: "j1"}); err == nil {
		t.Error("RecordFeedback without a user: want an error")
	}
}

func testStopOnceConcurrent(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := context.Background()
	if _, err := s.StopOf(ctx, "j1"); !errors.Is(err, slackbot.ErrNotFound) {
		t.Fatalf("StopOf before any stop: %v, want ErrNotFound", err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	stored := map[string]bool{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, first, err := s.RecordStop(ctx, slackbot.Stop{JobID: "j1", RunID: "r1", StoppedBy: fmt.Sprintf("U%d", i), StoppedAt: clk.Now()})
			if err != nil {
				t.Errorf("RecordStop: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			stored[st.StoppedBy] = true
			if first {
				firsts++
			}
		}()
	}
	wg.Wait()
	if firsts != 1 || len(stored) != 1 {
		t.Fatalf("%d calls made the stop and %d stoppers were returned; want exactly one of each", firsts, len(stored))
	}
	got, err := s.StopOf(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if !stored[got.StoppedBy] || got.RunID != "r1" || !got.StoppedAt.Equal(stamp(clk)) {
		t.Errorf("StopOf = %+v; want the stop every caller was told of, at %v", got, stamp(clk))
	}
}
