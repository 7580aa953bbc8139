package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/threadmap/storetest"
)

// This file runs the bot as real processes ("bot serve") against fakes that
// live in the test process, so tests can kill a replica with SIGKILL or stop
// it with SIGTERM exactly as an orchestrator would.

// buildBot compiles the bot once per test into a temporary directory. Every
// process test starts with it, so it skips them under -short.
func buildBot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the bot and runs it as processes: slow process test; skipped under -short")
	}
	bin := filepath.Join(t.TempDir(), "bot")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// newFakes starts a world without a bot: the Slack and agent runtime the
// replica processes talk to.
func newFakes(t *testing.T, script agentstest.Script, slackOpts ...slackfake.Option) *bottest.World {
	t.Helper()
	return newFakesOn(t, agentstest.ManagedProxy, script, slackOpts...)
}

// newFakesOn is newFakes with the runtime surface the fake plays; replicas
// started on them need agentServerSettings for the AgentServer surface.
func newFakesOn(t *testing.T, surface agentstest.Surface, script agentstest.Script, slackOpts ...slackfake.Option) *bottest.World {
	t.Helper()
	w, err := bottest.Start(context.Background(), nil,
		bottest.WithRuntimeOptions(agentstest.WithSurface(surface)),
		bottest.WithSlackOptions(slackOpts...),
		bottest.WithAgent(agentMain, script))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() }) // no bot: nothing to report
	return w
}

// worldEnv is the environment that points a bot process at w's fakes,
// answering with agentMain and keeping its store at databaseURL.
func worldEnv(w *bottest.World, databaseURL string) map[string]string {
	return map[string]string{
		"SLACK_SIGNING_SECRET": bottest.Secret,
		"SLACK_BOT_TOKEN":      bottest.BotToken,
		"SLACK_API_URL":        w.Slack.APIURL(),
		"SLACK_TIER_SCALE":     strconv.FormatFloat(w.Slack.TierScale(), 'g', -1, 64), // pace like the fake limits
		"LANGSMITH_API_KEY":    bottest.APIKey,
		"DEEPAGENTS_BASE_URL":  w.RuntimeURL(),
		"AGENT_ID":             agentMain,
		"DATABASE_URL":         databaseURL,
	}
}

// replica is one running "bot serve" process.
type replica struct {
	t       *testing.T
	name    string
	URL     string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startReplica starts "bot serve" with the settings every test needs, plus
// extra (which win), and waits until it is ready.
func startReplica(t *testing.T, bin, name string, f *bottest.World, databaseURL string, extra map[string]string) *replica {
	t.Helper()
	port := freePort(t)
	env := worldEnv(f, databaseURL)
	env["PORT"] = strconv.Itoa(port)
	env["REPLICA_NAME"] = name
	env["LOG_LEVEL"] = "debug"
	for k, v := range extra {
		env[k] = v
	}
	r := &replica{
		t:       t,
		name:    name,
		URL:     "http://127.0.0.1:" + strconv.Itoa(port),
		logPath: filepath.Join(t.TempDir(), name+".log"),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "serve")
	r.cmd.Env = os.Environ()
	for k, v := range env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		logFile.Close()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() || os.Getenv("BOT_TEST_LOGS") != "" {
			t.Logf("--- log of %s (last 40 lines) ---\n%s", name, r.logTail(40))
		}
	})
	r.waitReady()
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitReady polls /readyz until it answers 200 or the process exits.
func (r *replica) waitReady() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exited := false
	err := bottest.Wait(ctx, func() bool {
		select {
		case <-r.exited:
			exited = true
			return true
		default:
		}
		resp, err := http.Get(r.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	switch {
	case exited:
		r.t.Fatalf("%s exited during start-up: %v\n%s", r.name, r.waitErr, r.logTail(20))
	case err != nil:
		r.t.Fatalf("%s not ready after 20s\n%s", r.name, r.logTail(20))
	}
}

// kill ends the process with SIGKILL (no clean-up at all) and waits for it.
func (r *replica) kill() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// terminate sends SIGTERM and waits (at most 30 s) for a clean exit.
func (r *replica) terminate() error {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-r.exited:
		return r.waitErr
	case <-time.After(30 * time.Second):
		return errors.New(r.name + " did not stop within 30s of SIGTERM")
	}
}

func (r *replica) logs() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

func (r *replica) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(r.logs(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLines decodes the process's JSON log lines.
func (r *replica) logLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(r.logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// metric returns the sum of a metric's samples on /metrics whose line
// contains every one of labels (e.g. `route="events"`).
func (r *replica) metric(name string, labels ...string) (float64, error) {
	resp, err := http.Get(r.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return bottest.MetricValue(string(body), name, labels...)
}

// conversation is one user mention that starts a conversation.
type conversation struct {
	root    string // the user's message ts: the Slack thread's root
	text    string
	eventID string
	event   map[string]any
}

// mentions puts n top-level user messages that mention the bot into the
// fake Slack, each asking "q<i>".
func mentions(f *bottest.World, channel string, n int) []conversation {
	convs := make([]conversation, n)
	for i := range convs {
		text := fmt.Sprintf("q%03d", i)
		ev := bottest.AsMention(f.Mention(userAnna, channel, text, ""))
		convs[i] = conversation{root: ev["ts"].(string), text: text, eventID: fmt.Sprintf("Ev%03d", i), event: ev}
	}
	return convs
}

// deliverEverywhere sends every conversation's event to every replica with
// the given retry number, concurrently (Slack does not wait for one
// delivery before the next). Refused connections (a dead replica) are
// expected and ignored; any answer other than 200 is an error.
func deliverEverywhere(f *bottest.World, convs []conversation, retry int, replicas ...*replica) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, cv := range convs {
		for _, r := range replicas {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				code, err := f.EventTo(r.URL, cv.eventID, cv.event, retry)
				if err == nil && code != http.StatusOK {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s answered %d to %s", r.name, code, cv.eventID))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// answerWith is the fake agent of the process tests: it says it is working,
// pauses (so runs are in flight when a replica dies) and answers with a
// sentence naming the question, so every answer can be told apart.
func answerWith(pause time.Duration) agentstest.Script {
	return func(t agentstest.Turn) []agentstest.Step {
		return []agentstest.Step{
			agentstest.Text("Working ", "on ", "it. "),
			agentstest.Pause(pause),
			agentstest.Text("The ", "answer ", "to ", answerKey(t.Text()), " is ", "42."),
		}
	}
}

// answerKey extracts "q<i>" from the agent's input (the mention is turned
// into "@U… q<i>" for the agent).
func answerKey(input string) string {
	f := strings.Fields(input)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// answerCount counts, per conversation, the bot replies in its thread that
// carry its final answer, and every other bot reply that is not final
// (placeholders, open streams).
func answerCount(f *bottest.World, channel string, cv conversation) (answers, others int) {
	want := "The answer to " + cv.text + " is 42."
	for _, m := range f.Slack.Thread(channel, cv.root) {
		if !m.IsBot() || m.TS == cv.root {
			continue
		}
		if strings.Contains(normalizeSpace(bottest.MarkdownOf(m)), want) && !m.Streaming {
			answers++
		} else {
			others++
		}
	}
	return answers, others
}

func normalizeSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// waitAllAnswered waits until every conversation shows its answer.
func waitAllAnswered(ctx context.Context, f *bottest.World, channel string, convs []conversation) error {
	return f.WaitFor(ctx, func(*slackfake.Server) bool {
		for _, cv := range convs {
			if n, _ := answerCount(f, channel, cv); n == 0 {
				return false
			}
		}
		return true
	})
}

// checkExactlyOnce verifies every conversation got exactly one answer and
// nothing else, and that the runtime saw exactly one run start per
// conversation (thread_id + Slack message ts).
func checkExactlyOnce(t *testing.T, f *bottest.World, channel string, convs []conversation) {
	t.Helper()
	for _, cv := range convs {
		if answers, others := answerCount(f, channel, cv); answers != 1 || others != 0 {
			t.Errorf("conversation %s (%s): %d answers and %d other bot replies; want exactly 1 answer\n%s",
				cv.root, cv.text, answers, others, f.Slack.Transcript(channel))
		}
	}
	starts := map[string]int{}
	for _, raw := range f.Runtime.RunRequests() {
		var body struct {
			Thread struct {
				ThreadID string `json:"thread_id"`
			} `json:"thread"`
			Metadata map[string]any `json:"metadata"` // an Agent Server's also carries test_run
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("run request: %v", err)
		}
		ts, _ := body.Metadata["slack_message_ts"].(string)
		starts[body.Thread.ThreadID+"/"+ts]++
	}
	for key, n := range starts {
		if n != 1 {
			t.Errorf("run for %s requested %d times; want once", key, n)
		}
	}
	if len(starts) != len(convs) {
		t.Errorf("%d runs requested; want %d", len(starts), len(convs))
	}
}

// postgresSchemaDSN is an empty schema of its own for one process test,
// shared by the replicas it starts.
func postgresSchemaDSN(t *testing.T) string { return storetest.PostgresSchema(t, "bot_e2e") }

// pgCount runs a COUNT query on the database named by dsn.
func pgCount(dsn, sql string, args ...any) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}
