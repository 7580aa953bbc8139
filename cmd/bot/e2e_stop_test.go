package main

import (
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
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
	e := newTestEnv(t, slowAgent(), nil, nil)
	ev := AsMention(e.mention(userAnna, chGeneral, "write the long report", ""))
	e.deliver("Ev-stop", ev, 0)
	root := ev["ts"].(string)
	jobID := "msg:" + chGeneral + ":" + root
	e.waitSlack("the first part shown", func(f *slackfake.Server) bool {
		return strings.Contains(answerText(f, chGeneral, root), "Step one is done")
	})
	reply := botReplies(e.Slack, chGeneral, root)[0]

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
	answer := answerText(e.Slack, chGeneral, root)
	if !strings.Contains(answer, "Step one is done: the outline.") || strings.Contains(answer, "Never written") {
		t.Errorf("stopped reply %q: want what was produced so far, only", answer)
	}
	if runs := e.Runtime.Runs(); len(runs) != 1 || runs[0].Status != agents.RunInterrupted {
		t.Errorf("runs %+v, want the one run interrupted", runs)
	}
	cancels := 0
	for _, r := range e.Runtime.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/cancel") {
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
	// The conversation goes on after a Stop.
	if !e.hasJob(chGeneral, root) {
		t.Error("the stopped job is gone")
	}
}
