package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

const (
	chGeneral  = "CGENERAL01"
	chHeadless = "CHEADLESS1"
	chTestRun  = "CTESTRUN01"
	chOther    = "COTHER0001"
	userAnna   = "UANNA00001"
	userOmar   = "UOMAR00001" // ops
	userBen    = "UBEN000001"
	agentMain  = "00000000-0000-4000-8000-000000000001"
)

type testEnv struct {
	*sim
	t *testing.T
}

// newTestEnv starts the whole service against fakes. script answers for
// agentMain; configure may change the policy.
func newTestEnv(t *testing.T, script agentstest.Script, configure func(*Config), runtimeOpts []agentstest.Option, slackOpts ...slackfake.Option) *testEnv {
	t.Helper()
	runtime := agentstest.NewServer(runtimeOpts...)
	t.Cleanup(runtime.Close)
	runtime.AddAgent(agentMain, script)
	logOut := io.Discard
	if os.Getenv("BOT_TEST_LOGS") != "" {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := startSim(context.Background(), t.TempDir(), log, runtime, func(c *Config) {
		c.Policy.DefaultAgent = agentMain
		c.Policy.HeadlessChannels[chHeadless] = true
		c.Policy.TestRunChannels[chTestRun] = true
		c.Policy.OpsUsers[userOmar] = true
		// Quick retries: the tests exercise them, not their pacing.
		c.agentOptions = []agents.Option{agents.WithRetry(3, time.Millisecond, 5*time.Millisecond)}
		c.retryBase = 10 * time.Millisecond
		if configure != nil {
			configure(c)
		}
	}, slackOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("service stopped with: %v", err)
		}
	})
	return &testEnv{sim: s, t: t}
}

func (e *testEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// slash sends a slash command and requires a 200 ack.
func (e *testEnv) slash(user, channel, text string) string {
	e.t.Helper()
	code, body, err := e.Slash(user, channel, text)
	if err != nil || code != 200 {
		e.t.Fatalf("slash command: %d %v %s", code, err, body)
	}
	return body
}

// ask sends a slash command that starts a conversation and waits until the
// bot is done in its thread; it returns the thread's root ts.
func (e *testEnv) ask(user, channel, text string) string {
	e.t.Helper()
	root, err := e.SlashThread(e.ctx(), user, channel, text)
	if err != nil {
		e.t.Fatalf("/agent %s: %v\n%s", text, err, e.Slack.Transcript(channel))
	}
	return root
}

// waitReplies waits until the thread has n settled bot replies.
func (e *testEnv) waitReplies(channel, root string, n int) []slackfake.Message {
	e.t.Helper()
	var replies []slackfake.Message
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		replies = botReplies(f, channel, root)
		return len(replies) >= n && e.ThreadDone(channel, root)
	})
	if err != nil {
		e.t.Fatalf("want %d replies in %s/%s: %v\n%s", n, channel, root, err, e.Slack.Transcript(channel))
	}
	return replies
}

func botReplies(f *slackfake.Server, channel, root string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range f.Thread(channel, root) {
		if m.IsBot() && m.TS != root {
			out = append(out, m)
		}
	}
	return out
}

// runBodies decodes the bodies of every POST /threads/runs.
func (e *testEnv) runBodies() []map[string]any {
	var out []map[string]any
	for _, raw := range e.Runtime.RunRequests() {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// markdownOf returns the Markdown the bot sent in a message's markdown
// blocks (what Slack renders), falling back to its text.
func markdownOf(m slackfake.Message) string {
	var blocks []struct {
		Type string `json:"type"`
		Text any    `json:"text"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		if s, ok := bl.Text.(string); ok && bl.Type == "markdown" {
			b.WriteString(s)
		}
	}
	if b.Len() == 0 {
		return m.Rendered
	}
	return b.String()
}

// answerText is every bot reply of a thread, in order, as Markdown.
func answerText(f *slackfake.Server, channel, root string) string {
	var parts []string
	for _, m := range botReplies(f, channel, root) {
		parts = append(parts, markdownOf(m))
	}
	return strings.Join(parts, "\n")
}
