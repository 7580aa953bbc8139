package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

const chOpsTest = "COPSTEST01"

// pipelineEnv is an ops pipeline's view: the service's environment, the
// fakes behind it, and no running service.
type pipelineEnv struct {
	env     map[string]string
	slack   *slackfake.Server
	runtime *agentstest.Server
	db      string
}

func newPipelineEnv(t *testing.T, script agentstest.Script) *pipelineEnv {
	t.Helper()
	w := newFakes(t, script)
	db := filepath.Join(t.TempDir(), "bot.db")
	env := worldEnv(w, db)
	env["HEADLESS_CHANNELS"] = chHeadless
	return &pipelineEnv{env: env, slack: w.Slack, runtime: w.Runtime, db: db}
}

func (p *pipelineEnv) getenv(k string) string { return p.env[k] }

// testRun runs `bot test-run args…` in-process and returns its stdout.
func (p *pipelineEnv) testRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, append([]string{"test-run"}, args...), p.getenv, &out)
	return out.String(), err
}

// rootAndReplies returns the test run's root message and the bot's replies
// in its thread.
func rootAndReplies(t *testing.T, f *slackfake.Server, channel string) (slackfake.Message, []slackfake.Message) {
	t.Helper()
	msgs := f.Messages(channel)
	if len(msgs) == 0 {
		t.Fatalf("nothing posted in %s", channel)
	}
	root := msgs[0]
	return root, bottest.BotReplies(f, channel, root.TS)
}

func TestTestRunCommandSuccess(t *testing.T) {
	p := newPipelineEnv(t, agentstest.Scripted(agentstest.Text("All ", "systems ", "nominal.")))
	out, err := p.testRun(t, "--channel", chOpsTest, "smoke", "test:", "are you up?")
	if err != nil {
		t.Fatalf("test-run: %v", err)
	}
	if strings.TrimSpace(out) != "All systems nominal." {
		t.Fatalf("stdout = %q, want the answer", out)
	}
	root, replies := rootAndReplies(t, p.slack, chOpsTest)
	if !strings.Contains(root.Rendered, "Test run") || !strings.Contains(root.Rendered, "smoke test: are you up?") {
		t.Fatalf("root message does not name the test run: %q", root.Rendered)
	}
	if len(replies) != 1 || !strings.Contains(bottest.AnswerText(p.slack, chOpsTest, root.TS), "All systems nominal.") {
		t.Fatalf("thread:\n%s", p.slack.Transcript(chOpsTest))
	}
	runs := p.runtime.Runs()
	if len(runs) != 1 || !runs[0].Options.TestRun || runs[0].AgentID != agentMain {
		t.Fatalf("runs = %+v, want one test run of the channel's agent", runs)
	}
	key := slackbot.Key{TeamID: p.slack.TeamID(), ChannelID: chOpsTest, RootTS: root.TS}
	if runs[0].ThreadID != slackbot.ThreadID(key) {
		t.Fatalf("thread id %s, want the conversation's %s", runs[0].ThreadID, slackbot.ThreadID(key))
	}
}

func TestTestRunCommandJSONAndAgent(t *testing.T) {
	const other = "00000000-0000-4000-8000-0000000000aa"
	p := newPipelineEnv(t, agentstest.Scripted(agentstest.Text("wrong agent")))
	p.runtime.AddAgent(other, agentstest.Scripted(agentstest.Text("**ok** from the new version")))
	out, err := p.testRun(t, "--channel", chOpsTest, "--agent", other, "--json", "--timeout", "20s", "ping")
	if err != nil {
		t.Fatalf("test-run: %v\n%s", err, out)
	}
	var got testRunOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	runs := p.runtime.Runs()
	if len(runs) != 1 || runs[0].AgentID != other {
		t.Fatalf("runs = %+v, want one run of %s", runs, other)
	}
	root, _ := rootAndReplies(t, p.slack, chOpsTest)
	want := testRunOutput{
		Status:    "success",
		ThreadID:  runs[0].ThreadID,
		RunID:     runs[0].RunID,
		Answer:    "**ok** from the new version",
		Permalink: "https://fake-workspace.slack.com/archives/" + chOpsTest + "/p" + strings.Replace(root.TS, ".", "", 1),
		Channel:   chOpsTest,
		ThreadTS:  root.TS,
	}
	if got != want {
		t.Fatalf("JSON = %+v\nwant   %+v", got, want)
	}
}

func TestTestRunCommandFailures(t *testing.T) {
	tests := []struct {
		name    string
		script  agentstest.Script
		channel string
		args    []string
		want    []string // in the error
	}{
		{
			name:    "the run fails",
			script:  agentstest.Scripted(agentstest.Text("Checking "), agentstest.Fail("tool `deploy_status` failed: 503")),
			channel: chOpsTest,
			want:    []string{"test run error", "tool `deploy_status` failed: 503", "https://fake-workspace.slack.com/archives/" + chOpsTest},
		},
		{
			name:    "the run pauses for an approval",
			script:  agentstest.Scripted(agentstest.MemoryWrite("/memories/x.md", "x"), agentstest.Text("saved")),
			channel: chOpsTest,
			want:    []string{"test run paused", "approval"},
		},
		{
			name:    "the run outlasts the timeout",
			script:  agentstest.Scripted(agentstest.Text("thinking"), agentstest.Pause(5*time.Second), agentstest.Text("late")),
			channel: chOpsTest,
			args:    []string{"--timeout", "1500ms"},
			want:    []string{"test run timeout", "timed out"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipelineEnv(t, tt.script)
			args := append(append([]string{"--channel", tt.channel}, tt.args...), "check the deploy")
			out, err := p.testRun(t, args...)
			if err == nil {
				t.Fatalf("test-run succeeded: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing without --json", out)
			}
			if n := p.runtime.RunsStarted(); n > 1 {
				t.Errorf("%d runs started, want at most 1", n)
			}
		})
	}
}

func TestTestRunCommandRejectsBadInput(t *testing.T) {
	p := newPipelineEnv(t, agentstest.Echo())
	for _, args := range [][]string{
		{"prompt without channel"},
		{"--channel", "general", "bad channel id"},
		{"--channel", chOpsTest},
		{"--channel", chOpsTest, "--agent", "bad agent!", "x"},
		{"--channel", chOpsTest, "--timeout", "0s", "x"},
		{"--bogus"},
	} {
		if _, err := p.testRun(t, args...); err == nil || !strings.Contains(err.Error(), "usage: bot test-run") {
			t.Errorf("test-run %q: err = %v, want a usage error", args, err)
		}
	}
	// Missing settings are reported like the service reports them.
	delete(p.env, "AGENT_ID")
	if _, err := p.testRun(t, "--channel", chOpsTest, "x"); err == nil || !strings.Contains(err.Error(), "AGENT_ID is required") {
		t.Errorf("err = %v, want the configuration error", err)
	}
	if len(p.slack.Channels()) != 0 || p.runtime.RunsStarted() != 0 {
		t.Fatalf("bad input posted or started something")
	}
}

// With a service running on the same store, either process may follow the
// run: the answer arrives once and the command prints it.
func TestTestRunCommandNextToService(t *testing.T) {
	e := newTestEnv(t, agentstest.Scripted(agentstest.Text("pong")), nil, nil)
	for i := 0; i < 3; i++ {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := run(ctx, []string{"test-run", "--channel", chOpsTest, "ping"}, e.Environ(nil), &out)
		cancel()
		if err != nil || strings.TrimSpace(out.String()) != "pong" {
			t.Fatalf("run %d: %v %q", i, err, out.String())
		}
	}
	if n := e.Runtime.RunsStarted(); n != 3 {
		t.Fatalf("%d runs started, want 3", n)
	}
	for _, m := range e.Slack.Messages(chOpsTest) {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			if got := len(bottest.BotReplies(e.Slack, chOpsTest, m.TS)); got != 1 {
				t.Fatalf("thread %s has %d replies, want 1\n%s", m.TS, got, e.Slack.Transcript(chOpsTest))
			}
		}
	}
}

// POST /ops/test-runs: off without OPS_API_TOKEN; 401 and nothing started
// without the right bearer token; the same JSON as the command otherwise.
func TestOpsTestRunEndpoint(t *testing.T) {
	const token = "ops-token-0123456789abcdef"
	body := `{"channel":"` + chOpsTest + `","prompt":"are you up?","timeout":"20s"}`
	post := func(url, auth, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/ops/test-runs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
		return resp.StatusCode, b.String()
	}

	off := newTestEnv(t, agentstest.Scripted(agentstest.Text("pong")), nil, nil)
	if code, _ := post(off.URL, "Bearer "+token, body); code != http.StatusNotFound {
		t.Fatalf("without OPS_API_TOKEN: %d, want 404", code)
	}

	script := func(turn agentstest.Turn) []agentstest.Step {
		switch turn.Text() {
		case "fail":
			return []agentstest.Step{agentstest.Fail("the smoke test tool broke")}
		case "slow":
			return []agentstest.Step{agentstest.Pause(3 * time.Second), agentstest.Text("late")}
		}
		return []agentstest.Step{agentstest.Text("pong")}
	}
	e := newTestEnv(t, script, func(c *Config) { c.OpsAPIToken = token }, nil)
	callsBefore := len(e.Slack.Calls())
	for _, auth := range []string{"", "Bearer", "Bearer wrong-token-0123456789", "Basic " + token, "Bearer " + token + "x", token} {
		code, resp := post(e.URL, auth, body)
		if code != http.StatusUnauthorized || !strings.Contains(resp, "bearer token") {
			t.Errorf("Authorization %q: %d %s, want 401", auth, code, resp)
		}
	}
	// A test run's root message is posted before anything is recorded:
	// no Slack call means no job either.
	time.Sleep(200 * time.Millisecond) // let anything wrongly started show
	if len(e.Slack.Calls()) != callsBefore || e.Runtime.RunsStarted() != 0 {
		t.Fatalf("a refused request started something:\n%s", e.Slack.Transcript(chOpsTest))
	}

	for _, bad := range []string{`{"channel":"` + chOpsTest + `"}`, `{"channel":"x","prompt":"p"}`, `{"prompt":"p","channel":"` + chOpsTest + `","timeout":"2h"}`, `{"nope":1}`, `not json`} {
		if code, resp := post(e.URL, "Bearer "+token, bad); code != http.StatusBadRequest {
			t.Errorf("body %s: %d %s, want 400", bad, code, resp)
		}
	}

	code, resp := post(e.URL, "Bearer "+token, body)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, resp)
	}
	var got testRunOutput
	if err := json.Unmarshal([]byte(resp), &got); err != nil {
		t.Fatal(err)
	}
	runs := e.Runtime.Runs()
	if got.Status != "success" || got.Answer != "pong" || len(runs) != 1 || got.RunID != runs[0].RunID || got.ThreadID != runs[0].ThreadID || !runs[0].Options.TestRun || got.Permalink == "" {
		t.Fatalf("response %+v, runs %+v", got, runs)
	}

	for _, tc := range []struct {
		prompt, timeout string
		code            int
		status, err     string
	}{
		{"fail", "20s", http.StatusBadGateway, "error", "the smoke test tool broke"},
		{"slow", "500ms", http.StatusGatewayTimeout, "timeout", "timed out"},
	} {
		code, resp := post(e.URL, "Bearer "+token, `{"channel":"`+chOpsTest+`","prompt":"`+tc.prompt+`","timeout":"`+tc.timeout+`"}`)
		var out testRunOutput
		if err := json.Unmarshal([]byte(resp), &out); err != nil || code != tc.code || out.Status != tc.status || !strings.Contains(out.Error, tc.err) || out.ThreadID == "" {
			t.Errorf("%s: %d %s, want %d with status %s", tc.prompt, code, resp, tc.code, tc.status)
		}
	}
}

// TestTestRunProcess runs the built binary as a pipeline does: exit status
// 0 and the answer on stdout, or 1 and the reason on stderr.
func TestTestRunProcess(t *testing.T) {
	bin := buildBot(t)
	script := func(turn agentstest.Turn) []agentstest.Step {
		if turn.Text() == "break" {
			return []agentstest.Step{agentstest.Fail("the new version crashed")}
		}
		return []agentstest.Step{agentstest.Text("healthy")}
	}
	p := newPipelineEnv(t, script)
	runBin := func(prompt string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "test-run", "--channel", chOpsTest, "--timeout", "30s", prompt)
		for k, v := range p.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := runBin("status?"); code != 0 || strings.TrimSpace(out) != "healthy" {
		t.Fatalf("success: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut := runBin("break")
	if code != 1 || out != "" || !strings.Contains(errOut, "bot: test run error: The run failed: the new version crashed") {
		t.Fatalf("failure: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Shutdown while POST /ops/test-runs waits for a run: the caller is
// answered 504 "interrupted", the run's lease is released at once for
// another replica, and the service stops cleanly instead of waiting out
// its shutdown timeout with the store closed under the handler.
func TestOpsTestRunShutdown(t *testing.T) {
	const token = "ops-token-0123456789abcdef"
	dir := t.TempDir()
	s := startEnv(t, envSetup{
		script: func(agentstest.Turn) []agentstest.Step {
			return []agentstest.Step{agentstest.Pause(time.Minute), agentstest.Text("late")}
		},
		dir: dir,
		configure: func(c *Config) {
			c.OpsAPIToken = token
			c.LeaseTTL = time.Hour // a lease left behind would still hold the job
		},
	})
	runtime := s.Runtime

	type answer struct {
		code int
		out  testRunOutput
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/ops/test-runs",
			strings.NewReader(`{"channel":"`+chOpsTest+`","prompt":"take your time","timeout":"10m"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.code, a.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&a.out)
		answered <- a
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bottest.Wait(ctx, func() bool { return runtime.RunsStarted() > 0 }); err != nil {
		t.Fatal("the test run's run never started")
	}

	s.stop()
	a := <-answered
	if a.err != nil || a.code != http.StatusGatewayTimeout || a.out.Status != "interrupted" || a.out.ThreadID == "" {
		t.Errorf("answer: %d %+v %v, want 504 with status interrupted", a.code, a.out, a.err)
	}

	store, err := threadmap.Open(ctx, filepath.Join(dir, "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	job, err := store.LeaseNextJob(ctx, "next-replica", time.Minute)
	if err != nil || !strings.HasPrefix(job.ID, "testrun:") {
		t.Fatalf("another replica cannot take the test run over: %+v %v", job, err)
	}
}
