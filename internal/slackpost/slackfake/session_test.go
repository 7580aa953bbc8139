package slackfake_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Slack's own Stop halts the thread's streams in progress, and only those,
// and tells the app which it halted, in the event slack-go decodes.
func TestUserStopsSessionHaltsStreams(t *testing.T) {
	fake, api := newClient(t)
	root := fake.UserMessage(channel, "UALICE", "write the report", "")
	other := fake.UserMessage(channel, "UALICE", "another thread", "")
	done := startStream(t, api, root)
	if _, _, err := api.StopStream(channel, done); err != nil {
		t.Fatal(err)
	}
	live := startStream(t, api, root)
	elsewhere := startStream(t, api, other)

	ev := fake.UserStopsSession(channel, root, "UALICE")
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got slackevents.AgentSessionStoppedEvent
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := slackevents.AgentSessionStoppedEvent{Type: string(slackevents.AgentSessionStopped), Channel: channel, ThreadTimestamp: root,
		User: "UALICE", StreamingMessageTimestamps: []string{live}, EventTimestamp: got.EventTimestamp}
	if !reflect.DeepEqual(got, want) || got.EventTimestamp == "" {
		t.Errorf("event = %+v, want %+v", got, want)
	}
	_, _, err = api.AppendStream(channel, live, slack.MsgOptionMarkdownText("more"))
	if code := slackError(t, err); code != "message_not_in_streaming_state" {
		t.Errorf("append to the halted stream: %s, want message_not_in_streaming_state", code)
	}
	if _, _, err := api.AppendStream(channel, elsewhere, slack.MsgOptionMarkdownText("more")); err != nil {
		t.Errorf("append to another thread's stream: %v", err)
	}
	// The halted reply can still be edited, as any message of the bot.
	if _, _, _, err := api.UpdateMessage(channel, live, slack.MsgOptionText("Stopped.", false)); err != nil {
		t.Errorf("update of the halted reply: %v", err)
	}

	again := fake.UserStopsSession(channel, root, "UALICE")
	if _, has := again["streaming_message_ts"]; has {
		t.Errorf("a second stop lists streams %v; none was in progress", again["streaming_message_ts"])
	}
}
