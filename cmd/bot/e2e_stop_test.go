package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// slowAgent writes a first part, then works for a long time.
func slowAgent() agentstest.Script {
	return agentstest.Scripted(
		agentstest.Text("Step one is done: the outline."),
		agentstest.Pause(10*time.Minute),
		agentstest.Text("Never written."),
	)
}

func (e *testEnv) clickStop(user, channel, replyTS, root, jobID string) {
	e.t.Helper()
	code, err := e.Click(user, channel, replyTS, root, "run_stop", jobID)
	if err != nil || code != 200 {
		e.t.Fatalf("stop click by %s: %d %v", user, code, err)
	}
}

func ephemeralsTo(f *slackfake.Server, user, contains string) int {
	n := 0
	for _, eph := range f.Ephemerals() {
		if eph.User == user && strings.Contains(eph.Text, contains) {
			n++
		}
	}
	return n
}

// TestStopCancelsSlowRun: Stop on a slow run is refused to a bystander;
// the user who started it stops it (a double click stops it once): the
// run is cancelled on the runtime and the reply says who stopped it, with
// what the agent produced so far.
func TestStopCancelsSlowRun(t *testing.T) {
	// Updated replies carry the Stop button (streamed ones cannot).
	e := newTestEnv(t, slowAgent(), func(c *Config) { c.Streaming = false }, nil)
	ev := bottest.AsMention(e.Mention(userAnna, chGeneral, "write the long report", ""))
	e.deliver("Ev-stop", ev, 0)
	root := ev["ts"].(string)
	var reply slackfake.Message
	e.waitSlack("the first part shown with a Stop button", func(f *slackfake.Server) bool {
		replies := bottest.BotReplies(f, chGeneral, root)
		if len(replies) == 0 {
			return false
		}
		reply = replies[0]
		return strings.Contains(bottest.MarkdownOf(reply)+reply.Rendered, "Step one is done") && slices.Contains(reply.Buttons, "Stop")
	})
	jobID := bottest.ButtonValue(reply.Blocks, "run_stop")

	e.clickStop(userBen, chGeneral, reply.TS, root, jobID)
	e.waitSlack("the bystander refused", func(f *slackfake.Server) bool {
		return ephemeralsTo(f, userBen, "Only <@"+userAnna+">") == 1
	})
	if runs := e.Runtime.Runs(); len(runs) != 1 || agents.RunFinished(runs[0].Status) {
		t.Fatalf("after a bystander's Stop: runs %+v, want one still running", runs)
	}

	e.clickStop(userAnna, chGeneral, reply.TS, root, jobID)
	e.clickStop(userAnna, chGeneral, reply.TS, root, jobID) // double click
	e.waitAnswer(chGeneral, root, "Stopped by <@"+userAnna+">")
	answer := bottest.AnswerText(e.Slack, chGeneral, root)
	if !strings.Contains(answer, "Step one is done: the outline.") || strings.Contains(answer, "Never written") {
		t.Errorf("stopped reply %q: want what was produced so far, only", answer)
	}
	if runs := e.Runtime.Runs(); len(runs) != 1 || runs[0].Status != agents.RunInterrupted {
		t.Errorf("runs %+v, want the one run interrupted", runs)
	}
	cancels := 0
	for _, id := range e.Runtime.Cancels() {
		// The bot's probe cancels a run id that does not exist; only
		// cancels of the real run count.
		if id == e.Runtime.Runs()[0].RunID {
			cancels++
		}
	}
	if cancels != 1 {
		t.Errorf("%d cancel requests, want 1", cancels)
	}
	e.waitSlack("the double click told", func(f *slackfake.Server) bool {
		return ephemeralsTo(f, userAnna, "already stopped") == 1
	})
	if got := e.metricSum("slackbot_runs_stopped_total"); got != 1 {
		t.Errorf("slackbot_runs_stopped_total = %v, want 1", got)
	}
	final, _ := e.Slack.Message(chGeneral, reply.TS)
	if slices.Contains(final.Buttons, "Stop") {
		t.Errorf("the stopped reply still offers Stop: %v", final.Buttons)
	}
}

// TestStopNotOfferedWithoutCancel: on the documented Managed API, which has
// no cancel route, the reply offers no Stop button.
func TestStopNotOfferedWithoutCancel(t *testing.T) {
	e := newTestEnv(t, agentstest.Scripted(agentstest.Text("Step one is done."), agentstest.Pause(1500*time.Millisecond), agentstest.Text(" Finished.")),
		func(c *Config) { c.Streaming = false }, []agentstest.Option{agentstest.WithSurface(agentstest.ManagedDocumented)})
	root := e.ask(userAnna, chGeneral, "write it")
	e.waitAnswer(chGeneral, root, "Finished.")
	progress := 0
	for _, c := range e.Slack.CallsTo("chat.update") {
		if strings.Contains(c.Params["blocks"], "run_stop") {
			t.Fatalf("a live update offered Stop on a runtime without cancel: %s", c.Params["blocks"])
		}
		if strings.Contains(c.Params["blocks"], "Step one") && !strings.Contains(c.Params["blocks"], "Finished") {
			progress++
		}
	}
	if progress == 0 {
		t.Error("no progress update was shown while the run worked; the test proves nothing")
	}
	if e.Runtime.Runs()[0].Status != agents.RunSuccess {
		t.Errorf("run %+v, want it to finish", e.Runtime.Runs()[0])
	}
}
