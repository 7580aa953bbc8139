package threadmap_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// TestPostgresListenJobs: what makes a job leasable through one store
// instance (a new job, a released lease, a resumed job) wakes a listener
// on another instance of the same schema, and nothing recorded in another
// schema does.
func TestPostgresListenJobs(t *testing.T) {
	dsn := postgresSchema(t)
	ctx := t.Context()
	listener := openStore(t, dsn, time.Now)
	writer := openStore(t, dsn, time.Now)
	other := openStore(t, postgresSchema(t), time.Now)

	wakes := make(chan struct{}, 16)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- listener.(threadmap.JobListener).ListenJobs(lctx, func() { wakes <- struct{}{} })
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("ListenJobs after cancel: %v", err)
		}
	}()
	// await waits for one wake; the deadline only keeps a broken listener
	// from hanging the test.
	await := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(30 * time.Second):
			t.Fatalf("no wake after %s", what)
		}
	}
	await("listening began") // the wake that covers what was missed before
	if _, err := other.AddJob(ctx, slackbot.Job{ID: "elsewhere", Key: slackbot.Key{TeamID: "T", ChannelID: "C", RootTS: "0"}, Kind: "prompt"}); err != nil {
		t.Fatal(err)
	}

	key := slackbot.Key{TeamID: "T", ChannelID: "C", RootTS: "1"}
	if _, err := writer.AddJob(ctx, slackbot.Job{ID: "j1", Key: key, Kind: "prompt"}); err != nil {
		t.Fatal(err)
	}
	await("a job was added")
	j, err := writer.LeaseNextJob(ctx, "w", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.ReleaseLease(ctx, j.ID, j.LeaseOwner); err != nil {
		t.Fatal(err)
	}
	await("a lease was released")
	j, err = writer.LeaseNextJob(ctx, "w", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	j.State = slackbot.JobPaused
	if err := writer.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if ok, err := writer.ResumeJob(ctx, j.ID, []byte(`{}`)); err != nil || !ok {
		t.Fatalf("ResumeJob = %v, %v", ok, err)
	}
	await("a paused job was resumed")
	// A release that releases nothing announces nothing: the wakes so far
	// were the store's own, one each. Another schema's job never woke us.
	if err := writer.ReleaseLease(ctx, j.ID, "w/stale"); err == nil {
		t.Fatal("released a lease it did not hold")
	}
	if _, err := writer.AddJob(ctx, slackbot.Job{ID: "j2", Key: slackbot.Key{TeamID: "T", ChannelID: "C", RootTS: "2"}, Kind: "prompt"}); err != nil {
		t.Fatal(err)
	}
	await("a second job was added")
	select {
	case <-wakes:
		t.Error("a wake nobody announced: another schema's job, or a release that released nothing")
	default:
	}
}
