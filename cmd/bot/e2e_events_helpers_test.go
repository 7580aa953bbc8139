package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

const (
	chDM     = "DANNA00001" // anna's DM with the bot
	botUser  = "UBOT00001"  // slackfake's default bot user
	botID    = "BBOT00001"  // and its bot id
	thinking = "is thinking…"
)

// deliver sends an event and requires Slack's 200 ack.
func (e *testEnv) deliver(eventID string, ev map[string]any, retry int) {
	e.t.Helper()
	if code, err := e.Event(eventID, ev, retry); err != nil || code != http.StatusOK {
		e.t.Fatalf("event %s (retry %d): %d %v", eventID, retry, code, err)
	}
}

// converse delivers a mention at top level and waits for its answer; it
// returns the conversation's root ts (the mention's ts).
func (e *testEnv) converse(eventID, user, channel, text string) string {
	e.t.Helper()
	ev := bottest.AsMention(e.Mention(user, channel, text, ""))
	e.deliver(eventID, ev, 0)
	root := ev["ts"].(string)
	e.waitReplies(channel, root, 1)
	return root
}

// waitRuntime waits until cond holds on the fake runtime.
func (e *testEnv) waitRuntime(what string, cond func(*agentstest.Server) bool) {
	e.t.Helper()
	if err := bottest.Wait(e.ctx(), func() bool { return cond(e.Runtime) }); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitSlack waits until cond holds on the fake Slack.
func (e *testEnv) waitSlack(what string, cond func(*slackfake.Server) bool) {
	e.t.Helper()
	if err := e.WaitFor(e.ctx(), cond); err != nil {
		e.t.Fatalf("waiting for %s: %v\n%s", what, err, e.Slack.Transcript(chGeneral))
	}
}

// runThreadIDs are the threads of the runs the runtime accepted, in order.
func (e *testEnv) runThreadIDs() []string {
	var out []string
	for _, r := range e.Runtime.Runs() {
		out = append(out, r.ThreadID)
	}
	return out
}

// promptOf is the user message a run request sends to the agent.
func promptOf(body map[string]any) string {
	in, _ := body["input"].(map[string]any)
	msgs, _ := in["messages"].([]any)
	if len(msgs) == 0 {
		return ""
	}
	m, _ := msgs[len(msgs)-1].(map[string]any)
	s, _ := m["content"].(string)
	return s
}

// threadIDFor is the thread_id the bot derives for a Slack thread.
func threadIDFor(channel, root string) string {
	return slackbot.ThreadID(slackbot.Key{TeamID: bottest.Team, ChannelID: channel, RootTS: root})
}

// hasJob reports whether the store recorded a job for a user's message.
func (e *testEnv) hasJob(channel, ts string) bool {
	e.t.Helper()
	_, err := e.svc.store.Job(e.ctx(), "msg:"+channel+":"+ts)
	if err != nil && !errors.Is(err, slackbot.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// metricSum adds up every sample of a metric family in the /metrics
// exposition (0 when it has none).
func (e *testEnv) metricSum(name string) float64 {
	e.t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	sum, _ := bottest.MetricValue(string(body), name)
	return sum
}

// gate holds chosen turns of a scripted agent until released, so a test can
// act while a run is provably still going on.
type gate struct {
	mu      sync.Mutex
	waiting map[string]chan struct{} // prompt -> release
}

func newGate() *gate { return &gate{waiting: map[string]chan struct{}{}} }

// hold makes the turn whose prompt is prompt wait for release.
func (g *gate) hold(prompt string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting[prompt] = make(chan struct{})
}

func (g *gate) release(prompt string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch, ok := g.waiting[prompt]; ok {
		close(ch)
		delete(g.waiting, prompt)
	}
}

// echo answers "You said: <prompt>" once the prompt's turn is released.
func (g *gate) echo(ctx context.Context) agentstest.Script {
	return func(t agentstest.Turn) []agentstest.Step {
		g.mu.Lock()
		ch := g.waiting[t.Text()]
		g.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		return []agentstest.Step{agentstest.Text("You said: " + t.Text())}
	}
}
