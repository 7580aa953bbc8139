package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// pressSlackStop is user pressing Slack's own Stop in an AI app thread: the
// fake Slack halts the thread's streams and the bot gets the signed
// agent_session_stopped event, acked 200. It returns the inner event.
func (e *testEnv) pressSlackStop(eventID, user, threadTS string) map[string]any {
	e.t.Helper()
	ev := e.Slack.UserStopsSession(chDM, threadTS, user)
	e.deliver(eventID, ev, 0)
	return ev
}

// changeAIAppContext is the user looking at another channel while the AI
// app thread stays open: Slack's assistant_thread_context_changed.
func (e *testEnv) changeAIAppContext(eventID, threadTS, channel, eventTS string) {
	e.t.Helper()
	e.deliver(eventID, map[string]any{
		"type": "assistant_thread_context_changed",
		"assistant_thread": map[string]any{
			"user_id": userAnna, "channel_id": chDM, "thread_ts": threadTS,
			"context": map[string]any{"channel_id": channel, "team_id": bottest.Team},
		},
		"event_ts": eventTS,
	}, 0)
}

// cancelsOf counts the cancel requests of one run (the bot's capability
// probe cancels a run id that does not exist).
func cancelsOf(rt *agentstest.Server, runID string) int {
	n := 0
	for _, id := range rt.Cancels() {
		if id == runID {
			n++
		}
	}
	return n
}

// TestSlackStopCancelsAIAppRun: Slack's own Stop in an AI app thread (no
// Stop button there: the reply is streamed) cancels the run on the runtime
// once, although Slack redelivers the event; the halted streamed reply then
// says who stopped it, with what the agent produced so far.
func TestSlackStopCancelsAIAppRun(t *testing.T) {
	e := newTestEnv(t, slowAgent(), nil, nil)
	threadTS := e.startAIAppThread("Ev-ns-start")
	e.deliver("Ev-ns-1", e.UserSays(userAnna, chDM, "im", "write the long report", threadTS), 0)
	var reply slackfake.Message
	e.waitSlack("the first part streamed", func(f *slackfake.Server) bool {
		replies := bottest.BotReplies(f, chDM, threadTS)
		if len(replies) == 0 {
			return false
		}
		reply = replies[0]
		return reply.Streaming && strings.Contains(reply.Text, "Step one is done")
	})
	if slices.Contains(reply.Buttons, "Stop") {
		t.Fatalf("a streamed reply offers a Stop button: %v", reply.Buttons)
	}

	ev := e.pressSlackStop("Ev-ns-stop", userAnna, threadTS)
	if halted, _ := ev["streaming_message_ts"].([]string); !slices.Equal(halted, []string{reply.TS}) {
		t.Fatalf("Slack halted %v, want the live reply %s", ev["streaming_message_ts"], reply.TS)
	}
	e.deliver("Ev-ns-stop", ev, 1) // Slack's redelivery of the same event
	e.waitAnswer(chDM, threadTS, "Stopped by <@"+userAnna+">")

	answer := bottest.AnswerText(e.Slack, chDM, threadTS)
	if !strings.Contains(answer, "Step one is done: the outline.") || strings.Contains(answer, "Never written") {
		t.Errorf("stopped reply %q: want what was produced so far, only", answer)
	}
	runs := e.Runtime.Runs()
	if len(runs) != 1 || runs[0].Status != agents.RunInterrupted {
		t.Fatalf("runs %+v, want the one run interrupted", runs)
	}
	if n := cancelsOf(e.Runtime, runs[0].RunID); n != 1 {
		t.Errorf("%d cancel requests of the run, want 1", n)
	}
	if got := e.metricSum("slackbot_runs_stopped_total"); got != 1 {
		t.Errorf("slackbot_runs_stopped_total = %v, want 1", got)
	}
	// The redelivery changed nothing and told anna nothing.
	if n := len(e.Slack.Ephemerals()); n != 0 {
		t.Errorf("ephemerals %+v, want none", e.Slack.Ephemerals())
	}
	// Stop with nothing running is quietly acked, and the next prompt runs.
	e.pressSlackStop("Ev-ns-stop-idle", userAnna, threadTS)
	e.deliver("Ev-ns-2", e.UserSays(userAnna, chDM, "im", "a short one", threadTS), 0)
	e.waitRuntime("a second run", func(rt *agentstest.Server) bool { return len(rt.Runs()) == 2 })
}

// TestSlackStopRacingRunEndKeepsAnswer: Stop pressed as the run finishes on
// its own. The stop is recorded while the run is running, but its cancel
// reaches the runtime only after the run succeeded: the normal answer
// stands, not "Stopped by".
func TestSlackStopRacingRunEndKeepsAnswer(t *testing.T) {
	e := newTestEnv(t, agentstest.Scripted(
		agentstest.Text("Step one is done."),
		agentstest.Pause(3*time.Second),
		agentstest.Text(" All finished."),
	), nil, nil)
	threadTS := e.startAIAppThread("Ev-race-start")
	e.deliver("Ev-race-1", e.UserSays(userAnna, chDM, "im", "write it", threadTS), 0)
	e.waitSlack("the first part streamed", func(f *slackfake.Server) bool {
		replies := bottest.BotReplies(f, chDM, threadTS)
		return len(replies) > 0 && strings.Contains(replies[0].Text, "Step one is done")
	})
	release := make(chan struct{})
	e.Runtime.HoldCancels(release)
	e.pressSlackStop("Ev-race-stop", userAnna, threadTS)
	e.waitAnswer(chDM, threadTS, "All finished.")
	close(release)

	runs := e.Runtime.Runs()
	if len(runs) != 1 || runs[0].Status != agents.RunSuccess {
		t.Fatalf("runs %+v, want the one run succeeded", runs)
	}
	// The race happened: the stop was taken (a cancel went out) while the
	// run was still going on.
	e.waitRuntime("the held cancel", func(rt *agentstest.Server) bool { return cancelsOf(rt, runs[0].RunID) == 1 })
	if answer := bottest.AnswerText(e.Slack, chDM, threadTS); strings.Contains(answer, "Stopped by") {
		t.Errorf("answer %q says the run was stopped; it finished on its own", answer)
	}
}

// TestSlackStopRunGoneKeepsAnswer: the runtime no longer knows the run
// when the cancel comes (run_not_found): the stop is withdrawn, the user
// is told the run had finished, and the run's own answer stands.
func TestSlackStopRunGoneKeepsAnswer(t *testing.T) {
	e := newTestEnv(t, agentstest.Scripted(
		agentstest.Text("Step one is done."),
		agentstest.Pause(3*time.Second),
		agentstest.Text(" All finished."),
	), nil, nil)
	threadTS := e.startAIAppThread("Ev-gone-start")
	prompt := e.UserSays(userAnna, chDM, "im", "write it", threadTS)
	e.deliver("Ev-gone-1", prompt, 0)
	e.waitSlack("the first part streamed", func(f *slackfake.Server) bool {
		replies := bottest.BotReplies(f, chDM, threadTS)
		return len(replies) > 0 && strings.Contains(replies[0].Text, "Step one is done")
	})
	e.Runtime.CancelsFindNoRun(true)
	e.pressSlackStop("Ev-gone-stop", userAnna, threadTS)
	e.waitSlack("anna told the run had finished", func(f *slackfake.Server) bool {
		return ephemeralsTo(f, userAnna, "already finished") == 1
	})
	e.waitAnswer(chDM, threadTS, "All finished.")
	if answer := bottest.AnswerText(e.Slack, chDM, threadTS); strings.Contains(answer, "Stopped by") {
		t.Errorf("answer %q says the run was stopped; its cancel found nothing", answer)
	}
	if got := e.metricSum("slackbot_runs_stopped_total"); got != 0 {
		t.Errorf("slackbot_runs_stopped_total = %v, want 0", got)
	}
	// The stop is withdrawn, not merely outweighed by the run's status.
	if st, err := e.svc.store.StopOf(e.ctx(), "msg:"+chDM+":"+prompt["ts"].(string)); !errors.Is(err, slackbot.ErrNotFound) {
		t.Errorf("stop on record %+v, %v; want it withdrawn", st, err)
	}
}

// TestAIAppContextChannelInRunMetadata: each run of an AI app thread
// carries the channel the user had in view when it started; a context
// change between two prompts shows in the second run. Other conversations
// carry none.
func TestAIAppContextChannelInRunMetadata(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	threadTS := e.startAIAppThread("Ev-ctx-start") // chGeneral in view
	e.deliver("Ev-ctx-1", e.UserSays(userAnna, chDM, "im", "summarize this channel", threadTS), 0)
	e.waitReplies(chDM, threadTS, 1)
	e.waitRuntime("the first run done", func(rt *agentstest.Server) bool {
		return len(rt.Runs()) == 1 && agents.RunFinished(rt.Runs()[0].Status)
	})

	e.changeAIAppContext("Ev-ctx-changed", threadTS, chOther, "1900000000.000200")
	// A late redelivery of an older change does not undo the newer one.
	e.changeAIAppContext("Ev-ctx-older", threadTS, chHeadless, "1900000000.000100")
	e.deliver("Ev-ctx-2", e.UserSays(userAnna, chDM, "im", "and this one?", threadTS), 0)
	e.waitReplies(chDM, threadTS, 2)
	root := e.converse("Ev-ctx-channel", userBen, chGeneral, "hello")
	e.waitReplies(chGeneral, root, 1)

	runs := e.Runtime.Runs()
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3", len(runs))
	}
	for i, want := range []any{chGeneral, chOther, nil} {
		if got := runs[i].Metadata["slack_context_channel"]; got != want {
			t.Errorf("run %d: slack_context_channel = %v, want %v", i, got, want)
		}
	}
}

// TestSocketModeSlackStop: over Socket Mode, Slack's own Stop arrives as an
// events_api envelope, is acked and cancels the AI app thread's run as over
// HTTP.
func TestSocketModeSlackStop(t *testing.T) {
	e := newSocketEnv(t, slowAgent(), simAppToken)
	e.waitConnected(1)
	threadTS := e.Slack.UserMessage(chDM, botUser, "", "")
	e.send(e.eventEnvelope("Ev-sock-ns-1", e.UserSays(userAnna, chDM, "im", "write the long report", threadTS)))
	e.waitSlack("the first part streamed", func(f *slackfake.Server) bool {
		replies := bottest.BotReplies(f, chDM, threadTS)
		return len(replies) > 0 && strings.Contains(replies[0].Text, "Step one is done")
	})
	if ack := e.send(e.eventEnvelope("Ev-sock-ns-stop", e.Slack.UserStopsSession(chDM, threadTS, userAnna))); len(ack.Payload) != 0 {
		t.Fatalf("stop ack payload = %s, want empty", ack.Payload)
	}
	e.waitAnswer(chDM, threadTS, "Stopped by <@"+userAnna+">")
	if runs := e.Runtime.Runs(); len(runs) != 1 || runs[0].Status != agents.RunInterrupted || cancelsOf(e.Runtime, runs[0].RunID) != 1 {
		t.Errorf("runs %+v, want the one run interrupted by one cancel", runs)
	}
	e.noViolations()
}
