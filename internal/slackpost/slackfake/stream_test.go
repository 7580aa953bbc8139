package slackfake_test

import (
	"slices"
	"testing"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

func startStream(t *testing.T, api *slack.Client, root string) string {
	t.Helper()
	_, ts, err := api.StartStream(channel,
		slack.MsgOptionTS(root),
		slack.MsgOptionRecipientUserID("UALICE"),
		slack.MsgOptionRecipientTeamID("TTEAM0001"),
		slack.MsgOptionMarkdownText("Looking"))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestStreamStartAppendStop(t *testing.T) {
	fake, api := newClient(t)
	root := fake.UserMessage(channel, "UALICE", "why did the deploy fail?", "")
	ts := startStream(t, api, root)

	if _, _, err := api.AppendStream(channel, ts, slack.MsgOptionMarkdownText(" into it…")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.AppendStream(channel, ts, slack.MsgOptionChunks(slack.NewMarkdownTextChunk("\nThe migration"))); err != nil {
		t.Fatal(err)
	}
	if m, _ := fake.Message(channel, ts); !m.Streaming || m.Text != "Looking into it…\nThe migration" {
		t.Fatalf("mid-stream message = %+v", m)
	}

	feedback := slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, "_answered by agent_", false, false))
	if _, _, err := api.StopStream(channel, ts, slack.MsgOptionMarkdownText(" timed out."), slack.MsgOptionBlocks(feedback)); err != nil {
		t.Fatal(err)
	}
	m, _ := fake.Message(channel, ts)
	if m.Streaming || !m.Streamed || m.ThreadTS != root || !m.IsBot() {
		t.Errorf("stopped stream = %+v", m)
	}
	if want := "Looking into it…\nThe migration timed out."; m.Text != want {
		t.Errorf("Text = %q, want %q", m.Text, want)
	}
	if want := "Looking into it…\nThe migration timed out.\n_answered by agent_"; m.Rendered != want {
		t.Errorf("Rendered = %q, want %q", m.Rendered, want)
	}

	_, _, err := api.AppendStream(channel, ts, slack.MsgOptionMarkdownText("late"))
	if code := slackError(t, err); code != "message_not_in_streaming_state" {
		t.Errorf("append after stop: %s", code)
	}
}

func TestStreamExpiryFallsBackToUpdate(t *testing.T) {
	fake, api := newClient(t, slackfake.WithStreamExpiry(1))
	root := fake.UserMessage(channel, "UALICE", "go", "")
	ts := startStream(t, api, root)

	if _, _, err := api.AppendStream(channel, ts, slack.MsgOptionMarkdownText(" one")); err != nil {
		t.Fatal(err)
	}
	_, _, err := api.AppendStream(channel, ts, slack.MsgOptionMarkdownText(" two"))
	if code := slackError(t, err); code != "message_not_in_streaming_state" {
		t.Fatalf("second append: %s", code)
	}
	_, _, err = api.StopStream(channel, ts)
	if code := slackError(t, err); code != "message_not_in_streaming_state" {
		t.Fatalf("stop after expiry: %s", code)
	}
	if _, _, _, err := api.UpdateMessage(channel, ts, slack.MsgOptionMarkdownText("Looking one two")); err != nil {
		t.Fatalf("update fallback: %v", err)
	}
	m, _ := fake.Message(channel, ts)
	if m.Text != "Looking one two" || m.Updates != 1 || m.Streaming {
		t.Errorf("after fallback = %+v", m)
	}
}

func TestStreamValidation(t *testing.T) {
	fake, api := newClient(t)
	root := fake.UserMessage(channel, "UALICE", "go", "")

	_, _, err := api.StartStream(channel, slack.MsgOptionTS(root))
	if code := slackError(t, err); code != "missing_recipient_user_id" {
		t.Errorf("channel stream without recipient: %s", code)
	}
	// DMs need no recipient.
	if _, _, err := api.StartStream("D0DM00001", slack.MsgOptionTS(root)); err != nil {
		t.Errorf("DM stream: %v", err)
	}
	_, _, err = api.AppendStream(channel, root, slack.MsgOptionMarkdownText("x"))
	if code := slackError(t, err); code != "message_not_owned_by_app" {
		t.Errorf("append to a user's message: %s", code)
	}
}

func TestWithoutStreaming(t *testing.T) {
	fake, api := newClient(t, slackfake.WithoutStreaming())
	root := fake.UserMessage(channel, "UALICE", "go", "")
	_, _, err := api.StartStream(channel, slack.MsgOptionTS(root), slack.MsgOptionRecipientUserID("UALICE"), slack.MsgOptionRecipientTeamID("T1"))
	if code := slackError(t, err); code != "unknown_method" {
		t.Errorf("startStream on old workspace: %s", code)
	}
	if n := len(fake.Messages(channel)); n != 1 {
		t.Errorf("%d messages, want only the user's", n)
	}
}

func TestReactions(t *testing.T) {
	fake, api := newClient(t)
	ts := fake.UserMessage(channel, "UALICE", "hi", "")
	ref := slack.NewRefToMessage(channel, ts)

	steps := []struct {
		name   string
		call   func() error
		want   string // error code, "" for success
		result []string
	}{
		{"add eyes", func() error { return api.AddReaction("eyes", ref) }, "", []string{"eyes"}},
		{"add again", func() error { return api.AddReaction("eyes", ref) }, "already_reacted", []string{"eyes"}},
		{"add check", func() error { return api.AddReaction("white_check_mark", ref) }, "", []string{"eyes", "white_check_mark"}},
		{"remove eyes", func() error { return api.RemoveReaction("eyes", ref) }, "", []string{"white_check_mark"}},
		{"remove again", func() error { return api.RemoveReaction("eyes", ref) }, "no_reaction", []string{"white_check_mark"}},
		{"unknown message", func() error { return api.AddReaction("eyes", slack.NewRefToMessage(channel, "1.000002")) }, "message_not_found", []string{"white_check_mark"}},
	}
	for _, st := range steps {
		err := st.call()
		switch {
		case st.want == "" && err != nil:
			t.Errorf("%s: %v", st.name, err)
		case st.want != "":
			if code := slackError(t, err); code != st.want {
				t.Errorf("%s: %s, want %s", st.name, code, st.want)
			}
		}
		if got := fake.Reactions(channel, ts); !slices.Equal(got, st.result) {
			t.Errorf("%s: reactions %v, want %v", st.name, got, st.result)
		}
	}
}
