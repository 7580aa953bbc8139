package main

import (
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// TestMessagesOnceDroppedReachTheAgent: the user messages the bot used to
// drop reach the agent, one case each: a follow-up with a file (subtype
// file_share), a follow-up also sent to the channel (thread_broadcast), and
// events slack-go cannot decode (a mention and a follow-up), which the
// handler reads itself. Slack Connect users stream with their own team.
func TestMessagesOnceDroppedReachTheAgent(t *testing.T) {
	tests := []struct {
		name   string
		shape  func(ev map[string]any) map[string]any
		prompt string // what the agent must be asked
		metric float64
	}{
		{
			name: "file_share follow-up",
			shape: func(ev map[string]any) map[string]any {
				ev["subtype"] = "file_share"
				ev["files"] = []map[string]any{{"id": "F0001", "name": "q3.pdf", "title": "Q3 report", "mimetype": "application/pdf"}}
				return ev
			},
			// A type the agent is not given is named (TestFilesReachTheAgent has the rest).
			prompt: "what does this say?\n\n[Files shared with this message: q3.pdf \"Q3 report\" (application/pdf): this file type is not passed to you]",
		},
		{
			name: "thread_broadcast follow-up",
			shape: func(ev map[string]any) map[string]any {
				ev["subtype"] = "thread_broadcast"
				ev["root"] = map[string]any{"type": "message", "user": userAnna, "text": "start", "ts": ev["thread_ts"]}
				return ev
			},
			prompt: "what does this say?",
		},
		{
			name: "follow-up slack-go cannot decode",
			shape: func(ev map[string]any) map[string]any {
				ev["blocks"] = []map[string]any{{"type": "rich_text", "block_id": "b1", "elements": []map[string]any{
					{"type": "rich_text_section", "elements": []map[string]any{{"type": "text", "text": 5}}}}}}
				return ev
			},
			prompt: "what does this say?",
			metric: 1,
		},
		{
			name: "Slack Connect mention slack-go cannot decode",
			shape: func(ev map[string]any) map[string]any {
				ev = bottest.AsMention(ev)
				ev["text"] = "<@" + botUser + "> " + ev["text"].(string)
				ev["user_team"] = "TEXTERNAL1"
				ev["blocks"] = []map[string]any{{"type": "input", "block_id": "b1", "label": map[string]any{"type": "plain_text", "text": "x"},
					"element": map[string]any{"type": "plain_text_input", "action_id": 7}}}
				return ev
			},
			prompt: "what does this say?",
			metric: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, agentstest.Echo(), nil, nil)
			root := e.converse("Ev-start", userAnna, chGeneral, "start")
			ev := tc.shape(e.UserSays(userBen, chGeneral, "channel", "what does this say?", root))
			e.deliver("Ev-case", ev, 0)
			e.waitReplies(chGeneral, root, 2)
			bodies := e.runBodies()
			if got := prompts(bodies); len(got) != 2 || got[1] != tc.prompt {
				t.Fatalf("prompts = %q, want the second to be %q", got, tc.prompt)
			}
			if got := e.metricSum("slackbot_events_decoded_by_hand_total"); got != tc.metric {
				t.Errorf("slackbot_events_decoded_by_hand_total = %v, want %v", got, tc.metric)
			}
			if got := e.metricSum("slackbot_events_dropped_total"); got != 0 {
				t.Errorf("slackbot_events_dropped_total = %v, want 0", got)
			}
			if ev["user_team"] != nil {
				var team string
				for _, c := range e.Slack.CallsTo("chat.startStream") {
					if c.Params["thread_ts"] == root && c.Params["recipient_user_id"] == userBen {
						team = c.Params["recipient_team_id"]
					}
				}
				if team != "TEXTERNAL1" {
					t.Errorf("stream for the Slack Connect user has recipient_team_id %q, want their user_team", team)
				}
			}
		})
	}
}

// TestUnreadableEventIsDroppedLoudly: an event whose basic fields cannot be
// read is acked (a redelivery would not help) and counted as dropped.
func TestUnreadableEventIsDroppedLoudly(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	ev := map[string]any{"type": "message", "channel": chGeneral, "channel_type": "channel", "user": 42, "text": []int{1}, "ts": "1.0"}
	e.deliver("Ev-unreadable", ev, 0)
	if got := e.metricSum("slackbot_events_dropped_total"); got != 1 {
		t.Errorf("slackbot_events_dropped_total = %v, want 1", got)
	}
	if n := len(e.runBodies()); n != 0 {
		t.Errorf("%d runs started", n)
	}
	if strings.Contains(e.Slack.Transcript(chGeneral), "You said") {
		t.Error("something was answered")
	}
}
