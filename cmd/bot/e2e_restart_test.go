package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// TestRestartAfterSIGKILL: the only process, on the default SQLite store,
// dies with SIGKILL while it follows runs and has more work queued. Started
// again on the same database it rejoins the runs in flight, starts the
// queued ones, and every user gets exactly one answer; no run starts twice.
func TestRestartAfterSIGKILL(t *testing.T) {
	bin := buildBot(t)
	// A LangGraph Agent Server lists a thread's runs, so a run whose start
	// was sent just before the kill (its id not yet saved) is found again
	// even if it ended before the restart. On the Managed Deep Agents API,
	// which cannot list runs, such a run is only provable while it is busy
	// (TestUnprovableStartOnManagedSurface shows the honest note otherwise).
	f := newFakesOn(t, agentstest.AgentServer, answerWith(2*time.Second))
	db := filepath.Join(t.TempDir(), "bot.db")
	// At most four runs followed at once for ten conversations: at the
	// kill, four runs are in flight and six are accepted but not started.
	settings := map[string]string{"MAX_FOLLOWED_RUNS": "4", "LEASE_TTL": "1s", "AGENT_RUNTIME": "agent-server"}
	first := startReplica(t, bin, "bot", f, db, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	convs := mentions(f, chGeneral, 10)
	if err := deliverEverywhere(f, convs, 0, first); err != nil {
		t.Fatal(err)
	}
	if err := bottest.Wait(ctx, func() bool { return f.Runtime.RunsStarted() >= 4 }); err != nil {
		t.Fatalf("runs did not start: %v", err)
	}
	first.kill()
	if n := f.Runtime.RunsStarted(); n != 4 {
		t.Fatalf("%d runs started before the kill; want 4 (MAX_FOLLOWED_RUNS)", n)
	}

	// The same replica name, as a restarted pod or service keeps it.
	second := startReplica(t, bin, "bot", f, db, settings)
	if err := deliverEverywhere(f, convs, 1, second); err != nil { // Slack's retries
		t.Fatal(err)
	}
	if err := waitAllAnswered(ctx, f, chGeneral, convs); err != nil {
		t.Fatalf("not every conversation was answered after the restart: %v\n%s", err, second.logTail(30))
	}
	if err := f.Runtime.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bottest.Wait(ctx, func() bool { return threadsSettled(f, chGeneral, convs) }); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, f, chGeneral, convs)
	if got, err := second.metric("slackbot_lease_takeovers_total"); err != nil || got < 4 {
		t.Errorf("restarted process took over %v jobs (%v); want the 4 in flight", got, err)
	}
}

// threadsSettled reports whether every conversation's thread shows only
// final bot replies.
func threadsSettled(f *bottest.World, channel string, convs []conversation) bool {
	for _, cv := range convs {
		if !bottest.ThreadSettled(f.Slack, channel, cv.root) {
			return false
		}
	}
	return true
}
