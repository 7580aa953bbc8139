package slackfake_test

import (
	"context"
	"testing"

	"github.com/slack-go/slack"
)

// TestRepliesRules: conversations.replies pages with cursors, the parent
// leading every page, limit capped at Slack's 1000, and Slack's errors for
// a bad cursor or limit and an unknown thread.
func TestRepliesRules(t *testing.T) {
	fake, api := newClient(t)
	ctx := context.Background()
	root := fake.UserMessage(channel, "U1", "root", "")
	for range 5 {
		fake.UserMessage(channel, "U2", "reply", root)
	}
	msgs, more, next, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: root, Limit: 3})
	if err != nil || len(msgs) != 3 || !more || next == "" || msgs[0].Timestamp != root || msgs[0].ThreadTimestamp != root {
		t.Fatalf("first page = %d msgs, more %v, next %q, %v", len(msgs), more, next, err)
	}
	msgs, more, next, err = api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: root, Limit: 3, Cursor: next})
	if err != nil || len(msgs) != 3 || !more || msgs[0].Timestamp != root {
		t.Fatalf("second page = %d msgs, more %v, %v", len(msgs), more, err)
	}
	msgs, more, _, err = api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: root, Limit: 3, Cursor: next})
	if err != nil || len(msgs) != 2 || more {
		t.Fatalf("last page = %d msgs, more %v, %v", len(msgs), more, err)
	}
	if msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: root, Limit: 5000}); err != nil || len(msgs) != 6 {
		t.Fatalf("limit over 1000 = %d msgs, %v; want all 6", len(msgs), err)
	}
	for _, tc := range []struct {
		params slack.GetConversationRepliesParameters
		code   string
	}{
		{slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: root, Cursor: "bm90IGEgY3Vyc29y"}, "invalid_cursor"},
		{slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: root, Limit: -1}, "invalid_limit"},
		{slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: "1.000001"}, "thread_not_found"},
		{slack.GetConversationRepliesParameters{ChannelID: "C0NOWHERE", Timestamp: root}, "channel_not_found"},
	} {
		_, _, _, err := api.GetConversationRepliesContext(ctx, &tc.params)
		if got := slackError(t, err); got != tc.code {
			t.Errorf("%+v: %s; want %s", tc.params, got, tc.code)
		}
	}
}
