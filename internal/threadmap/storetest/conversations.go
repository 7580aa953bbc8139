package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

func testThreadID(t *testing.T, s threadmap.Store, _ *Clock) {
	known := slackbot.Key{TeamID: "T0001", ChannelID: "C0001", RootTS: "1700000000.000100"}
	tests := []struct {
		name string
		key  slackbot.Key
		want string
	}{
		// Hard-coded so that a change to the derivation cannot go unnoticed:
		// operators look Slack threads up in LangSmith by this id.
		{"known answer", known, "6c0ce47b-4794-5d54-b5d0-f565fb20fa76"},
		{"uuidv5 of the slack URL", key("1700000001.000200"),
			uuid.NewSHA1(uuid.NameSpaceURL, []byte("slack://T0001/C0001/1700000001.000200")).String()},
	}
	for _, tc := range tests {
		got := slackbot.ThreadID(tc.key)
		if got != tc.want {
			t.Errorf("%s: ThreadID(%v) = %s; want %s", tc.name, tc.key, got, tc.want)
		}
		if again := slackbot.ThreadID(tc.key); again != got {
			t.Errorf("%s: ThreadID not stable: %s then %s", tc.name, got, again)
		}
		if u := uuid.MustParse(got); u.Version() != 5 || u.Variant() != uuid.RFC4122 {
			t.Errorf("%s: ThreadID %s is version %d variant %v; want a v5 RFC 4122 UUID", tc.name, got, u.Version(), u.Variant())
		}
	}

	others := []slackbot.Key{
		{TeamID: "T0002", ChannelID: "C0001", RootTS: known.RootTS},
		{TeamID: "T0001", ChannelID: "C0002", RootTS: known.RootTS},
		{TeamID: "T0001", ChannelID: "C0001", RootTS: "1700000000.000101"},
	}
	seen := map[string]slackbot.Key{slackbot.ThreadID(known): known}
	for _, k := range others {
		id := slackbot.ThreadID(k)
		if prev, dup := seen[id]; dup {
			t.Errorf("ThreadID(%v) = ThreadID(%v) = %s; different threads must differ", k, prev, id)
		}
		seen[id] = k
	}

	// A conversation bound without a thread id gets the derived one.
	c, err := s.BindConversation(t.Context(), slackbot.Conversation{Key: known, AgentID: "agent-a"})
	if err != nil {
		t.Fatalf("BindConversation: %v", err)
	}
	if c.ThreadID != slackbot.ThreadID(known) {
		t.Errorf("stored ThreadID = %s; want %s", c.ThreadID, slackbot.ThreadID(known))
	}
}

func testConversations(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	k := key("1700000000.000100")
	_, err := s.Conversation(ctx, k)
	wantErr(t, "Conversation before binding", err, slackbot.ErrNotFound)

	first := slackbot.Conversation{
		Key: k, AgentID: "agent-a", StartedBy: "U1",
		Options: slackbot.Options{TestRun: true, SkipMemoryWriteProtection: true},
	}
	want := first
	want.ThreadID = slackbot.ThreadID(k)
	want.CreatedAt = stamp(clk)

	got, err := s.BindConversation(ctx, first)
	if err != nil {
		t.Fatalf("BindConversation: %v", err)
	}
	if got != want {
		t.Fatalf("BindConversation = %+v; want %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v; want UTC", got.CreatedAt.Location())
	}

	clk.Advance(time.Hour)
	second := slackbot.Conversation{Key: k, AgentID: "agent-b", StartedBy: "U2"}
	got, err = s.BindConversation(ctx, second)
	if err != nil {
		t.Fatalf("second BindConversation: %v", err)
	}
	if got != want {
		t.Fatalf("second BindConversation = %+v; want the first binding %+v", got, want)
	}
	got, err = s.Conversation(ctx, k)
	if err != nil || got != want {
		t.Fatalf("Conversation = %+v, %v; want %+v", got, err, want)
	}

	// Another thread of the same channel is a separate conversation.
	other, err := s.BindConversation(ctx, slackbot.Conversation{Key: key("1700000000.000200"), AgentID: "agent-b"})
	if err != nil || other.AgentID != "agent-b" || other.ThreadID == want.ThreadID || other.MentionsOnly {
		t.Fatalf("BindConversation(other thread) = %+v, %v; want its own binding", other, err)
	}

	// A conversation joined in someone else's thread keeps that mark.
	joined, err := s.BindConversation(ctx, slackbot.Conversation{Key: key("1700000000.000300"), AgentID: "agent-a", MentionsOnly: true})
	if err != nil || !joined.MentionsOnly {
		t.Fatalf("BindConversation(joined thread) = %+v, %v; want MentionsOnly", joined, err)
	}
	if got, err := s.Conversation(ctx, joined.Key); err != nil || !got.MentionsOnly {
		t.Fatalf("Conversation(joined thread) = %+v, %v; want MentionsOnly", got, err)
	}
}

func testBindConversationConcurrent(t *testing.T, s threadmap.Store, _ *Clock) {
	k := key("1700000000.000100")
	results := make([]slackbot.Conversation, Concurrency)
	errs := make([]error, Concurrency)
	var wg sync.WaitGroup
	for i := range Concurrency {
		wg.Go(func() {
			results[i], errs[i] = s.BindConversation(t.Context(), slackbot.Conversation{
				Key: k, AgentID: fmt.Sprintf("agent-%d", i), StartedBy: fmt.Sprintf("U%d", i),
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("BindConversation: %v", err)
	}
	stored, err := s.Conversation(t.Context(), k)
	if err != nil {
		t.Fatalf("Conversation: %v", err)
	}
	for i, got := range results {
		if got != stored {
			t.Errorf("caller %d got %+v; want the one stored binding %+v", i, got, stored)
		}
	}
	var winner int
	if _, err := fmt.Sscanf(stored.AgentID, "agent-%d", &winner); err != nil || stored.StartedBy != fmt.Sprintf("U%d", winner) {
		t.Errorf("stored binding %+v mixes fields of different callers", stored)
	}
}

func testClaimDeliveryOnce(t *testing.T, s threadmap.Store, _ *Clock) {
	ids := []string{"Ev0001", "C0001/1700000000.000100"}
	for _, id := range ids {
		claimed := make([]bool, Concurrency)
		errs := make([]error, Concurrency)
		var wg sync.WaitGroup
		for i := range Concurrency {
			wg.Go(func() { claimed[i], errs[i] = s.ClaimDelivery(t.Context(), id) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("ClaimDelivery(%s): %v", id, err)
		}
		winners := 0
		for _, ok := range claimed {
			if ok {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("ClaimDelivery(%s): %d of %d callers won; want exactly 1", id, winners, Concurrency)
		}
		again, err := s.ClaimDelivery(t.Context(), id)
		if err != nil || again {
			t.Fatalf("ClaimDelivery(%s) again = %v, %v; want false", id, again, err)
		}
	}
}

func testPruneDeliveries(t *testing.T, s threadmap.Store, clk *Clock) {
	p, ok := s.(threadmap.Pruner)
	if !ok {
		t.Skip("store does not implement threadmap.Pruner")
	}
	ctx := t.Context()
	for _, id := range []string{"old-1", "old-2"} {
		if ok, err := s.ClaimDelivery(ctx, id); err != nil || !ok {
			t.Fatalf("ClaimDelivery(%s) = %v, %v", id, ok, err)
		}
	}
	clk.Advance(2 * time.Hour)
	if ok, err := s.ClaimDelivery(ctx, "new"); err != nil || !ok {
		t.Fatalf("ClaimDelivery(new) = %v, %v", ok, err)
	}

	n, err := p.PruneDeliveries(ctx, clk.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneDeliveries = %d, %v; want 2", n, err)
	}
	if ok, err := s.ClaimDelivery(ctx, "old-1"); err != nil || !ok {
		t.Errorf("ClaimDelivery(pruned old-1) = %v, %v; want true", ok, err)
	}
	if ok, err := s.ClaimDelivery(ctx, "new"); err != nil || ok {
		t.Errorf("ClaimDelivery(kept new) = %v, %v; want false", ok, err)
	}
}
