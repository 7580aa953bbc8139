package main

import (
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// answerWithFeedback waits for the thread's answer and returns the reply
// that carries the feedback buttons (the answer's last part).
func (e *testEnv) answerWithFeedback(channel, root string) slackfake.Message {
	e.t.Helper()
	var found slackfake.Message
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		if !e.ThreadDone(channel, root) {
			return false
		}
		n := 0
		for _, m := range bottest.BotReplies(f, channel, root) {
			if _, _, _, ok := bottest.FeedbackButtons(m); ok {
				found = m
				n++
			}
		}
		return n == 1
	})
	if err != nil {
		e.t.Fatalf("want exactly one reply with feedback buttons: %v\n%s", err, e.Slack.Transcript(channel))
	}
	return found
}

func (e *testEnv) clickFeedback(user string, m slackfake.Message, good bool) {
	e.t.Helper()
	actionID, up, down, _ := bottest.FeedbackButtons(m)
	value := down
	if good {
		value = up
	}
	code, err := e.ClickElement(user, m.Channel, m.TS, m.ThreadTS, "feedback_buttons", actionID, value)
	if err != nil || code != 200 {
		e.t.Fatalf("feedback click by %s: %d %v", user, code, err)
	}
}

// TestFeedbackRecordedOnceSentOnce: 👍/👎 sit under the final answer; a
// user's first verdict is recorded and sent to LangSmith as user_score on
// the answer's run, once, however often they click; another user's verdict
// counts separately; /metrics counts both.
func TestFeedbackRecordedOnceSentOnce(t *testing.T) {
	e := newTestEnv(t, agentstest.Scripted(agentstest.Text("Paris is the capital of France.")), nil, nil)
	root := e.ask(userAnna, chGeneral, "what is the capital of France?")
	answer := e.answerWithFeedback(chGeneral, root)
	if !strings.Contains(answer.Rendered+bottest.MarkdownOf(answer), "Paris") {
		t.Errorf("the feedback buttons are not under the answer: %q", answer.Rendered)
	}

	e.clickFeedback(userAnna, answer, true)
	e.clickFeedback(userAnna, answer, true)  // double click
	e.clickFeedback(userAnna, answer, false) // a change of mind does not count twice
	e.clickFeedback(userBen, answer, false)

	e.waitRuntime("two feedbacks in LangSmith", func(s *agentstest.Server) bool { return len(s.Feedback()) >= 2 })
	e.waitSlack("feedback counted", func(*slackfake.Server) bool { return e.metricSum("slackbot_feedback_total") >= 2 })

	runs := e.Runtime.RunRequests()
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	byUser := map[string][]agentstest.Feedback{}
	for _, f := range e.Runtime.Feedback() {
		switch {
		case strings.Contains(f.Comment, userAnna):
			byUser[userAnna] = append(byUser[userAnna], f)
		case strings.Contains(f.Comment, userBen):
			byUser[userBen] = append(byUser[userBen], f)
		default:
			t.Errorf("feedback comment %q names no Slack user", f.Comment)
		}
		if f.Key != "user_score" || f.RunID == "" {
			t.Errorf("feedback %+v: want key user_score on the answer's run", f)
		}
	}
	for user, want := range map[string]float64{userAnna: 1, userBen: 0} {
		got := byUser[user]
		if len(got) != 1 || got[0].Score == nil || *got[0].Score != want {
			t.Errorf("%s: LangSmith got %+v, want one score %v", user, got, want)
		}
	}
	if got := e.metricSum("slackbot_feedback_total"); got != 2 {
		t.Errorf("slackbot_feedback_total = %v, want 2", got)
	}
	thanks, again := 0, 0
	for _, eph := range e.Slack.Ephemerals() {
		switch {
		case strings.Contains(eph.Text, "Thanks for the feedback"):
			thanks++
		case strings.Contains(eph.Text, "already rated"):
			again++
		}
	}
	if thanks != 2 || again != 2 {
		t.Errorf("ephemerals: %d thanks, %d already-rated; want 2 and 2", thanks, again)
	}
}

// TestFeedbackWithoutLangSmith: on a self-hosted Agent Server the verdict is
// recorded and counted, and nothing is sent.
func TestFeedbackWithoutLangSmith(t *testing.T) {
	e := newSurfaceEnv(t, surfaceCase{surface: agentstest.AgentServer, runtime: agents.AgentServer}, agentstest.Scripted(agentstest.Text("Done.")))
	if e.Config.LangSmithURL != "" {
		t.Fatalf("LangSmithURL = %q for an Agent Server; want none", e.Config.LangSmithURL)
	}
	root := e.ask(userAnna, chGeneral, "do it")
	e.clickFeedback(userAnna, e.answerWithFeedback(chGeneral, root), true)
	e.waitSlack("feedback counted", func(*slackfake.Server) bool { return e.metricSum("slackbot_feedback_total") >= 1 })
}
