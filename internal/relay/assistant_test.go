package relay

import (
	"log/slog"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
)

func TestEventTime(t *testing.T) {
	tests := []struct {
		ts   string
		want time.Time
		ok   bool
	}{
		{"1715873754.429808", time.Unix(1715873754, 429808000).UTC(), true},
		{"1715873754.4", time.Unix(1715873754, 400000000).UTC(), true},
		{"1715873754", time.Unix(1715873754, 0).UTC(), true},
		// Microseconds exactly: a float would round 1900000000.000001 away.
		{"1900000000.000001", time.Unix(1900000000, 1000).UTC(), true},
		{"", time.Time{}, false},
		{"abc.123", time.Time{}, false},
		{"1715873754.1234567", time.Time{}, false},
		{"1715873754.-1", time.Time{}, false},
		{"-5.0", time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := eventTime(tc.ts)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("eventTime(%q) = %v, %v; want %v, %v", tc.ts, got, ok, tc.want, tc.ok)
		}
	}
}

// The context channel Slack tells for an AI app thread reaches the run
// metadata of that thread's runs only, the newest change winning.
func TestContextChannelInRunMetadata(t *testing.T) {
	store := openTestStore(t)
	r, _ := newTestRelay(t, "w", store, agentstest.Echo())
	ctx := t.Context()
	dm := slackbot.Key{TeamID: "T1", ChannelID: "D1", RootTS: "1700000000.000100"}
	steps := []slackbot.AssistantThread{
		{TeamID: "T1", ChannelID: "D1", ThreadTS: dm.RootTS, ContextChannelID: "C1", EventTS: "1700000001.000000"},
		{TeamID: "T1", ChannelID: "D1", ThreadTS: dm.RootTS, ContextChannelID: "C2", EventTS: "1700000003.000000"},
		{TeamID: "T1", ChannelID: "D1", ThreadTS: dm.RootTS, ContextChannelID: "C3", EventTS: "1700000002.000000"}, // late, older
		{TeamID: "T1", ChannelID: "D1", ThreadTS: dm.RootTS, EventTS: "1700000004.000000"},                         // nothing in view
	}
	if err := r.AssistantThreadStarted(ctx, steps[0]); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps[1:] {
		if err := r.AssistantThreadContextChanged(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		key  slackbot.Key
		p    payload
		want any
	}{
		{"the AI app thread", dm, payload{UserID: "U1", ChannelType: "im"}, "C2"},
		{"another DM thread", slackbot.Key{TeamID: "T1", ChannelID: "D1", RootTS: "1700000000.000200"}, payload{UserID: "U1", ChannelType: "im"}, nil},
		{"a channel thread", slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: dm.RootTS}, payload{UserID: "U1", ChannelType: "channel"}, nil},
	}
	for _, tc := range tests {
		p := tc.p
		p.contextChannel = r.contextChannel(ctx, log, tc.key, p)
		meta := r.runMetadata(slackbot.Conversation{Key: tc.key}, p)
		if got := meta["slack_context_channel"]; got != tc.want {
			t.Errorf("%s: slack_context_channel = %v, want %v", tc.name, got, tc.want)
		}
		// Never stored with the job.
		if back, _ := decodePayload(p.encode()); back.contextChannel != "" {
			t.Errorf("%s: the context channel was encoded into the job payload", tc.name)
		}
	}
}
