package main

import (
	"context"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestReplicasSurviveSIGKILL: two replica processes share one PostgreSQL.
// 100 conversations start; Slack delivers every event to both replicas and
// retries it. One replica dies with SIGKILL while runs are in flight; the
// other takes over its expired leases, rejoins the runs it held and
// delivers their answers. Every user gets exactly one answer and no run is
// started twice.
func TestReplicasSurviveSIGKILL(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	began := time.Now()
	bin := buildBot(t)
	// 100 live replies in one channel at once would wait minutes on Slack's
	// real tiers (chat.postMessage about 1/s per channel, chat.update 50/min):
	// this test is about takeover, so the fake's tiers are scaled up.
	// On an Agent Server a run whose start was sent just before the kill is
	// found again by its metadata even if it has ended (see
	// TestRestartAfterSIGKILL).
	f := newFakesOn(t, agentstest.AgentServer, answerWith(4*time.Second), slackfake.WithRateTiers(20))
	settings := map[string]string{"LEASE_TTL": "2s", "AGENT_RUNTIME": "agent-server"}
	a := startReplica(t, bin, "replica-a", f, dsn, settings)
	b := startReplica(t, bin, "replica-b", f, dsn, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const n = 100
	convs := mentions(f, chGeneral, n)
	if err := deliverEverywhere(f, convs, 0, a, b); err != nil {
		t.Fatal(err)
	}
	if err := deliverEverywhere(f, convs, 1, a, b); err != nil {
		t.Fatal(err)
	}

	// Kill replica A once every run has started and A follows some of them.
	var heldByA int
	err := bottest.Wait(ctx, func() bool {
		if f.Runtime.RunsStarted() < n {
			return false
		}
		var err error
		heldByA, err = pgCount(dsn, `SELECT COUNT(*) FROM jobs WHERE lease_owner LIKE $1::text || '/%' AND state = 'running'`, a.name)
		return err == nil && heldByA > 0
	})
	if err != nil {
		t.Fatalf("runs did not all start on both replicas: %v (runs started %d)", err, f.Runtime.RunsStarted())
	}
	a.kill()
	t.Logf("killed %s holding %d running jobs, %.1fs after start", a.name, heldByA, time.Since(began).Seconds())

	// Slack keeps retrying to whoever answers.
	if err := deliverEverywhere(f, convs, 2, a, b); err != nil {
		t.Fatal(err)
	}
	if err := waitAllAnswered(ctx, f, chGeneral, convs); err != nil {
		t.Fatalf("not every conversation was answered: %v\n%s", err, b.logTail(30))
	}
	if err := f.Runtime.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitNoOpenJobs(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, f, chGeneral, convs)

	takenOver, err := pgCount(dsn, `SELECT COUNT(*) FROM jobs WHERE attempts > 1`)
	if err != nil {
		t.Fatal(err)
	}
	if takenOver < heldByA {
		t.Errorf("%d jobs were taken over; want at least the %d replica A held", takenOver, heldByA)
	}
	if got, err := b.metric("slackbot_lease_takeovers_total"); err != nil || got < float64(heldByA) {
		t.Errorf("replica B lease takeovers = %v, %v; want at least %d", got, err, heldByA)
	}
	t.Logf("100 conversations, SIGKILL and takeover: %.1fs in all (%d jobs taken over)", time.Since(began).Seconds(), takenOver)
}

// TestReplicaSIGTERMHandsOverAtOnce: a replica stopped with SIGTERM while
// following runs exits cleanly and releases its leases, so the other
// replica continues them at once, although the lease TTL is five minutes.
func TestReplicaSIGTERMHandsOverAtOnce(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	bin := buildBot(t)
	// Runs long enough for B to start while A follows them all.
	f := newFakes(t, answerWith(10*time.Second))
	settings := map[string]string{"LEASE_TTL": "5m"}
	a := startReplica(t, bin, "replica-a", f, dsn, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const n = 10
	convs := mentions(f, chGeneral, n)
	// Only A runs when Slack's requests arrive, so A holds every run. (A
	// replica running then would be woken by PostgreSQL's NOTIFY and take
	// its share: which replica holds how many would be a race.)
	if err := deliverEverywhere(f, convs, 0, a); err != nil {
		t.Fatal(err)
	}
	var heldByA int
	err := bottest.Wait(ctx, func() bool {
		var err error
		heldByA, err = pgCount(dsn, `SELECT COUNT(*) FROM jobs WHERE lease_owner LIKE $1::text || '/%' AND state = 'running'`, a.name)
		return err == nil && heldByA == n && f.Runtime.RunsStarted() == n
	})
	if err != nil {
		t.Fatalf("replica A did not start the runs: %v", err)
	}
	b := startReplica(t, bin, "replica-b", f, dsn, settings)
	if err := a.terminate(); err != nil {
		t.Fatalf("replica A after SIGTERM: %v\n%s", err, a.logTail(20))
	}
	// A released its leases on the way out: nothing is leased to it now.
	if held, err := pgCount(dsn, `SELECT COUNT(*) FROM jobs WHERE lease_owner LIKE $1::text || '/%'`, a.name); err != nil || held != 0 {
		t.Errorf("after SIGTERM replica A still holds %d leases (%v); want 0", held, err)
	}
	// Slack's retries now reach B only.
	if err := deliverEverywhere(f, convs, 1, b); err != nil {
		t.Fatal(err)
	}
	// With a 5-minute TTL, only released leases let B finish within the
	// test's deadline.
	if err := waitAllAnswered(ctx, f, chGeneral, convs); err != nil {
		t.Fatalf("replica B did not continue the runs: %v\n%s", err, b.logTail(30))
	}
	if err := waitNoOpenJobs(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, f, chGeneral, convs)
	if got, err := b.metric("slackbot_lease_takeovers_total"); err != nil || got < float64(heldByA) {
		t.Errorf("replica B took over %v jobs (%v); want the %d replica A held", got, err, heldByA)
	}
	if !hasLogLine(a, "shutting down: finishing in-flight requests") || !hasLogLine(a, "stopped") {
		t.Errorf("replica A's log does not show an orderly shutdown:\n%s", a.logTail(20))
	}
}

// waitNoOpenJobs waits until every job in the ledger is final.
func waitNoOpenJobs(ctx context.Context, dsn string) error {
	return bottest.Wait(ctx, func() bool {
		open, err := pgCount(dsn, `SELECT COUNT(*) FROM jobs WHERE state NOT IN ('done', 'failed')`)
		return err == nil && open == 0
	})
}

func hasLogLine(r *replica, msg string) bool {
	for _, l := range r.logLines() {
		if l["msg"] == msg {
			return true
		}
	}
	return false
}
