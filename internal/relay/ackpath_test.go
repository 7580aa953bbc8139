package relay

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// countLookups counts conversation lookups, the read on a message's ack path.
type countLookups struct {
	threadmap.Store
	n atomic.Int64
}

func (c *countLookups) Conversation(ctx context.Context, k slackbot.Key) (slackbot.Conversation, error) {
	c.n.Add(1)
	return c.Store.Conversation(ctx, k)
}

// A top-level message is acked without reading the store (only its one
// write), yet a repeat of it — a retry, or the app_mention/message twin —
// still starts nothing new; a thread reply looks its conversation up.
func TestTopLevelMessageAckSkipsTheLookup(t *testing.T) {
	store := &countLookups{Store: openTestStore(t)}
	r, _ := newTestRelay(t, "w", store, agentstest.Echo())
	ctx := t.Context()
	mention := slackbot.Message{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel",
		UserID: "U1", Text: "hello", TS: "1700000000.000100", Mention: true}
	twin := mention
	twin.EventID = "Ev2"
	plain := slackbot.Message{EventID: "Ev3", TeamID: "T1", ChannelID: "C1", ChannelType: "channel",
		UserID: "U2", Text: "lunch?", TS: "1700000000.000200"}
	for _, m := range []slackbot.Message{mention, twin, plain} {
		if err := r.Message(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.n.Load(); n != 0 {
		t.Errorf("%d conversation lookups for top-level messages, want 0", n)
	}
	key := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: mention.TS}
	if n, err := store.UnfinishedJobs(ctx, slackbot.ThreadID(key)); err != nil || n != 1 {
		t.Fatalf("%d open jobs, %v; want the mention's one (the twin deduplicated)", n, err)
	}
	if _, err := store.Job(ctx, "msg:C1:"+plain.TS); !errors.Is(err, slackbot.ErrNotFound) {
		t.Errorf("a plain top-level message was recorded: %v", err)
	}

	reply := slackbot.Message{EventID: "Ev4", TeamID: "T1", ChannelID: "C1", ChannelType: "channel",
		UserID: "U1", Text: "and more", TS: "1700000000.000300", ThreadTS: mention.TS}
	if err := r.Message(ctx, reply); err != nil {
		t.Fatal(err)
	}
	if n := store.n.Load(); n != 1 {
		t.Errorf("%d conversation lookups after a thread reply, want 1", n)
	}
	if n, err := store.UnfinishedJobs(ctx, slackbot.ThreadID(key)); err != nil || n != 2 {
		t.Errorf("%d open jobs, %v; want the reply queued behind the mention", n, err)
	}
}
