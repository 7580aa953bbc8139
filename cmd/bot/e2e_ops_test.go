package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// lockedBuffer collects the service's JSON logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// startOpsSim starts the service in-process with JSON logs kept in logs, as
// production writes them.
func startOpsSim(t *testing.T, script agentstest.Script, configure func(*Config)) (*sim, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	var out io.Writer = logs
	if os.Getenv("BOT_TEST_LOGS") != "" {
		out = io.MultiWriter(logs, os.Stderr)
	}
	e := startEnv(t, envSetup{script: script, configure: configure, log: newLogger(out, "debug")})
	return e.sim, logs
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndLogsAfterTraffic: after some traffic /metrics shows what
// operators watch (requests and ack latency by route, runs started,
// finished and failed, approvals, Slack API errors and 429s, runs in
// flight, lease takeovers), and log lines about a run carry its thread_id
// and run_id.
func TestMetricsAndLogsAfterTraffic(t *testing.T) {
	script := func(turn agentstest.Turn) []agentstest.Step {
		if strings.Contains(turn.Text(), "break") {
			return []agentstest.Step{agentstest.Fail("tool exploded")}
		}
		return answerWith(0)(turn)
	}
	s, logs := startOpsSim(t, script, nil)
	f := s.World
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s.Slack.FailNext("reactions.add", "already_reacted") // a Slack API error
	s.Slack.RateLimit("reactions.remove", 1, 1)          // and a 429
	convs := mentions(f, chGeneral, 2)
	convs[1].event["text"] = convs[1].event["text"].(string) + " break"
	for i, cv := range convs {
		for retry := range 2 { // the retry is a duplicate
			if code, err := s.Event(cv.eventID, cv.event, retry); err != nil || code != 200 {
				t.Fatalf("event %d: %d %v", i, code, err)
			}
		}
	}
	if code, _, err := s.Slash(userAnna, chGeneral, "help"); err != nil || code != 200 {
		t.Fatalf("slash: %d %v", code, err)
	}
	for _, cv := range convs {
		if err := s.WaitFor(ctx, func(*slackfake.Server) bool { return s.ThreadDone(chGeneral, cv.root) }); err != nil {
			t.Fatal(err)
		}
	}
	// The 429 is hit by a reaction removed in the background.
	err := s.WaitFor(ctx, func(sl *slackfake.Server) bool {
		for _, c := range sl.Calls() {
			if c.Method == "reactions.remove" && c.Error == "ratelimited" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}

	// The fake records the 429 before the bot's client has counted it: read
	// /metrics until the count is there (bounded by ctx).
	var exposition string
	err = s.WaitFor(ctx, func(*slackfake.Server) bool {
		code, body := httpGet(t, s.URL+"/metrics")
		if code != 200 {
			return false
		}
		exposition = body
		got, err := bottest.MetricValue(body, "slackbot_slack_api_errors_total", `method="reactions.remove"`, `error="ratelimited"`)
		return err == nil && got >= 1
	})
	if err != nil {
		t.Fatalf("the 429 never reached /metrics: %v", err)
	}
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"slackbot_http_requests_total", []string{`route="events"`, `status="200"`}, 4},
		{"slackbot_http_requests_total", []string{`route="commands"`}, 1},
		{"slackbot_ack_seconds_count", []string{`route="events"`}, 4},
		{"slackbot_ack_seconds_bucket", []string{`route="commands"`, `le="3"`}, 1},
		{"slackbot_event_retries_total", nil, 2},
		{"slackbot_duplicate_deliveries_total", nil, 2},
		{"slackbot_runs_started_total", nil, 2},
		{"slackbot_runs_finished_total", []string{`outcome="success"`}, 1},
		{"slackbot_runs_finished_total", []string{`outcome="error"`}, 1},
		{"slackbot_runs_finished_total", []string{`outcome="interrupted"`}, 0},
		{"slackbot_approvals_total", []string{`decision="approve"`}, 0},
		{"slackbot_approvals_total", []string{`decision="reject"`}, 0},
		{"slackbot_slack_api_calls_total", []string{`method="chat.update"`}, 1},
		{"slackbot_slack_api_calls_total", []string{`status="429"`}, 1},
		{"slackbot_slack_api_errors_total", []string{`method="reactions.add"`, `error="already_reacted"`}, 1},
		{"slackbot_slack_api_errors_total", []string{`method="reactions.remove"`, `error="ratelimited"`}, 1},
		{"slackbot_runs_in_flight", nil, 0},
		{"slackbot_lease_takeovers_total", nil, 0},
	}
	for _, m := range atLeast {
		got, err := bottest.MetricValue(exposition, m.name, m.labels...)
		if err != nil || got < m.min {
			t.Errorf("%s%v = %v, %v; want at least %v", m.name, m.labels, got, err, m.min)
		}
	}
	if got, _ := bottest.MetricValue(exposition, "slackbot_runs_in_flight"); got != 0 {
		t.Errorf("runs in flight = %v after every run ended; want 0", got)
	}

	// Log lines about a run name its conversation's thread and the run.
	runIDs := map[string]bool{}
	for _, r := range s.Runtime.Runs() {
		runIDs[r.ThreadID+"/"+r.RunID] = true
	}
	seen := map[string]int{}
	for _, l := range logs.lines() {
		thread, _ := l["thread_id"].(string)
		run, _ := l["run_id"].(string)
		if runIDs[thread+"/"+run] {
			seen[l["msg"].(string)]++
		}
	}
	for _, msg := range []string{"run started", "answer delivered"} {
		if seen[msg] == 0 {
			t.Errorf("no %q log line carries the run's thread_id and run_id (lines with both: %v)", msg, seen)
		}
	}
}

// TestReadyzFollowsTheStore: /readyz answers 503 while the store cannot be
// reached and 200 again once it can; /healthz (liveness) stays 200.
func TestReadyzFollowsTheStore(t *testing.T) {
	t.Run("sqlite closed", func(t *testing.T) {
		s, _ := startOpsSim(t, agentstest.Echo(), nil)
		if code, _ := httpGet(t, s.URL+"/readyz"); code != 200 {
			t.Fatalf("/readyz = %d before the store closed; want 200", code)
		}
		s.svc.store.Close()
		if code, _ := httpGet(t, s.URL+"/readyz"); code != 503 {
			t.Errorf("/readyz = %d with the store closed; want 503", code)
		}
		if code, _ := httpGet(t, s.URL+"/healthz"); code != 200 {
			t.Errorf("/healthz = %d; want 200 (the process is alive)", code)
		}
	})
	t.Run("postgres unreachable", func(t *testing.T) {
		dsn := postgresSchemaDSN(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		proxy := startTCPProxy(t, u.Host)
		u.Host = proxy.addr
		s, _ := startOpsSim(t, agentstest.Echo(), func(c *Config) { c.DatabaseURL = u.String() })
		if code, _ := httpGet(t, s.URL+"/readyz"); code != 200 {
			t.Fatalf("/readyz = %d with PostgreSQL up; want 200", code)
		}
		proxy.stop()
		if code, _ := httpGet(t, s.URL+"/readyz"); code != 503 {
			t.Errorf("/readyz = %d with PostgreSQL unreachable; want 503", code)
		}
		proxy.start()
		// Probes repeat: the pool drops the connections the outage broke as
		// it meets them and dials new ones.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = bottest.Wait(ctx, func() bool {
			code, _ := httpGet(t, s.URL+"/readyz")
			return code == 200
		})
		if err != nil {
			t.Errorf("/readyz never answered 200 once PostgreSQL was back: %v", err)
		}
	})
}

// tcpProxy forwards a local port to a server; stop cuts every connection
// and refuses new ones, as a network partition would.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0"}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
