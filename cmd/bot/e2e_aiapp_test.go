package main

import (
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// startAIAppThread opens the bot as an AI app with chGeneral in view and
// returns the thread's ts.
func (e *testEnv) startAIAppThread(eventID string) string {
	e.t.Helper()
	threadTS := e.Slack.UserMessage(chDM, botUser, "", "")
	e.deliver(eventID, map[string]any{
		"type": "assistant_thread_started",
		"assistant_thread": map[string]any{
			"user_id": userAnna, "channel_id": chDM, "thread_ts": threadTS,
			"context": map[string]any{"channel_id": chGeneral, "team_id": bottest.Team},
		},
		"event_ts": threadTS,
	}, 0)
	return threadTS
}

// TestAIAppThreadTitle: the first prompt of an AI app thread names it
// (first line, trimmed); later prompts leave the title alone.
func TestAIAppThreadTitle(t *testing.T) {
	e := newTestEnv(t, agentstest.Scripted(agentstest.Text("Sure.")), nil, nil)
	threadTS := e.startAIAppThread("Ev-title-start")
	e.deliver("Ev-title-1", e.UserSays(userAnna, chDM, "im", "  Plan my   week\nwith the details below", threadTS), 0)
	e.waitReplies(chDM, threadTS, 1)
	e.waitSlack("the title", func(f *slackfake.Server) bool { return f.AssistantTitle(chDM, threadTS) != "" })
	e.deliver("Ev-title-2", e.UserSays(userAnna, chDM, "im", "and next week too", threadTS), 0)
	e.waitReplies(chDM, threadTS, 2)

	if got := e.Slack.AssistantTitle(chDM, threadTS); got != "Plan my week" {
		t.Errorf("title %q, want %q", got, "Plan my week")
	}
	if calls := e.Slack.CallsTo("assistant.threads.setTitle"); len(calls) != 1 || !calls[0].OK {
		t.Errorf("setTitle calls %+v, want one", calls)
	}
}
