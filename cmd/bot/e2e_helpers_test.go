package main

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
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

// testEnv is the service in a bottest.World, failing its test on errors.
type testEnv struct {
	*sim
	t testing.TB
}

// envSetup describes an end-to-end environment: the world around the
// service and how the service is configured.
type envSetup struct {
	script      agentstest.Script // answers for agentMain
	configure   func(*Config)     // runs after the common test policy
	runtimeOpts []agentstest.Option
	slackOpts   []slackfake.Option
	// runtime and slack, when set, are fakes the test owns (and closes),
	// e.g. shared by two services in a restart test.
	runtime *agentstest.Server
	slack   *slackfake.Server
	// dir holds the store; a new temporary directory when "".
	dir string
	// proxied puts a bottest.RuntimeProxy between the bot and the runtime
	// (e.Proxy). tokenDelay is how long each root token takes to reach the
	// bot, as if the model were producing it (the fake runtime emits a
	// whole text step at once); slowTools holds the stream after a root
	// call of a named tool, so the tool looks busy for that long.
	proxied    bool
	tokenDelay time.Duration
	slowTools  map[string]time.Duration
	// webhook sets PUBLIC_URL to a recording proxy in front of the bot (e.Hooks).
	webhook bool
	// quiet discards the service's logs even with BOT_TEST_LOGS set; log,
	// when set, takes them instead.
	quiet bool
	log   *slog.Logger
}

// startEnv starts the service in a new world: the one builder of the
// in-process end-to-end tests.
func startEnv(tb testing.TB, es envSetup) *testEnv {
	tb.Helper()
	opts := []bottest.Option{
		bottest.WithAgent(agentMain, es.script),
		bottest.WithRuntimeOptions(es.runtimeOpts...),
		bottest.WithSlackOptions(es.slackOpts...),
	}
	if es.runtime != nil {
		opts = append(opts, bottest.WithRuntime(es.runtime))
	}
	if es.slack != nil {
		opts = append(opts, bottest.WithSlack(es.slack))
	}
	if es.proxied {
		opts = append(opts, bottest.WithRuntimeProxy(es.tokenDelay, es.slowTools))
	}
	if es.webhook {
		opts = append(opts, bottest.WithWebhooks())
	}
	dir := cmp.Or(es.dir, tb.TempDir())
	logOut := io.Discard
	if os.Getenv("BOT_TEST_LOGS") != "" && !es.quiet {
		logOut = os.Stderr
	}
	log := cmp.Or(es.log, slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s, err := startSim(context.Background(), dir, log, func(c *Config) {
		c.Policy.DefaultAgent = agentMain
		c.Policy.HeadlessChannels[chHeadless] = true
		c.Policy.TestRunChannels[chTestRun] = true
		c.Policy.OpsUsers[userOmar] = true
		// Quick retries: the tests exercise them, not their pacing.
		c.agentOptions = []agents.Option{agents.WithRetry(3, time.Millisecond, 5*time.Millisecond)}
		c.retryBase = 10 * time.Millisecond
		if es.configure != nil {
			es.configure(c)
		}
	}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("service stopped with: %v", err)
		}
	})
	return &testEnv{sim: s, t: tb}
}

// newTestEnv is startEnv for the common case: script answers for
// agentMain; configure may change the policy.
func newTestEnv(t *testing.T, script agentstest.Script, configure func(*Config), runtimeOpts []agentstest.Option, slackOpts ...slackfake.Option) *testEnv {
	t.Helper()
	return startEnv(t, envSetup{script: script, configure: configure, runtimeOpts: runtimeOpts, slackOpts: slackOpts})
}

// stop stops the service as SIGTERM would; the world stays up.
func (e *testEnv) stop() {
	e.t.Helper()
	if err := e.StopBot(); err != nil {
		e.t.Fatalf("service stopped with: %v", err)
	}
}

// start starts the service again after stop, on the same store, Slack and
// runtime (a restart).
func (e *testEnv) start() {
	e.t.Helper()
	if err := e.StartBot(context.Background(), e.bot); err != nil {
		e.t.Fatal(err)
	}
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
		replies = bottest.BotReplies(f, channel, root)
		return len(replies) >= n && e.ThreadDone(channel, root)
	})
	if err != nil {
		e.t.Fatalf("want %d replies in %s/%s: %v\n%s", n, channel, root, err, e.Slack.Transcript(channel))
	}
	return replies
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
