package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestRunRequestBodies checks the exact POST /threads/runs body for each
// kind of channel and for ops' test runs.
func TestRunRequestBodies(t *testing.T) {
	tests := []struct {
		name, user, channel, text, prompt string
		testRun, headless                 bool
	}{
		{"normal channel", userAnna, chGeneral, "summarize the incident", "summarize the incident", false, false},
		{"headless channel", userAnna, chHeadless, "triage alert 42", "triage alert 42", false, true},
		{"test-run channel", userAnna, chTestRun, "dry run please", "dry run please", true, false},
		{"/agent test by ops", userOmar, chGeneral, "test check the pipeline", "check the pipeline", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, agentstest.Echo(), nil, nil)
			root := e.ask(tc.user, tc.channel, tc.text)
			reqs := e.Runtime.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want a thread creation and a run", len(reqs))
			}
			threadID := slackbot.ThreadID(slackbot.Key{TeamID: bottest.Team, ChannelID: tc.channel, RootTS: root})
			wantThread := map[string]any{
				"agent_id":  agentMain,
				"thread_id": threadID,
				"if_exists": "do_nothing",
				"metadata": map[string]any{
					"slack_team_id": bottest.Team, "slack_channel_id": tc.channel,
					"slack_thread_ts": root, "slack_user_id": tc.user,
				},
				"options": map[string]any{"test_run": tc.testRun, "skip_memory_write_protection": tc.headless},
			}
			wantRun := map[string]any{
				"agent_id":           agentMain,
				"input":              map[string]any{"messages": []any{map[string]any{"role": "user", "content": tc.prompt}}},
				"metadata":           map[string]any{"slack_user_id": tc.user, "slack_message_ts": root},
				"multitask_strategy": "enqueue",
				"stream_mode":        []any{"values", "messages-tuple", "updates"},
				"stream_resumable":   true,
				"on_disconnect":      "continue",
			}
			for i, want := range []struct {
				path string
				body map[string]any
			}{{"/threads", wantThread}, {"/threads/" + threadID + "/runs/stream", wantRun}} {
				var got map[string]any
				if err := json.Unmarshal(reqs[i].Body, &got); err != nil {
					t.Fatal(err)
				}
				if reqs[i].Method != http.MethodPost || reqs[i].Path != want.path || !reflect.DeepEqual(got, want.body) {
					gotJSON, _ := json.MarshalIndent(got, "", "  ")
					exp, _ := json.MarshalIndent(want.body, "", "  ")
					t.Fatalf("request %d: %s %s\n%s\nwant POST %s\n%s", i, reqs[i].Method, reqs[i].Path, gotJSON, want.path, exp)
				}
			}
			// The root message says who asked and what.
			rootMsg, _ := e.Slack.Message(tc.channel, root)
			if !strings.Contains(rootMsg.Rendered, "<@"+tc.user+">") || !strings.Contains(rootMsg.Rendered, tc.prompt) {
				t.Errorf("root message %q should name the user and the prompt", rootMsg.Rendered)
			}
			if got := bottest.AnswerText(e.Slack, tc.channel, root); !strings.Contains(got, "You said: "+tc.prompt) {
				t.Errorf("answer = %q", got)
			}
		})
	}
}

func TestSlashCommandEphemeralAnswers(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), func(c *Config) {
		c.Policy.AllowedChannels = map[string]bool{chGeneral: true, chHeadless: true}
	}, nil)
	tests := []struct {
		name, user, channel, text, want string
	}{
		{"help", userAnna, chGeneral, "help", "How to use /agent"},
		{"empty text is help", userAnna, chGeneral, "", "How to use /agent"},
		{"status", userAnna, chHeadless, "status", "*Headless* (memory writes need no approval): yes"},
		{"test by a non-ops user is refused", userBen, chGeneral, "test do it", "Only ops users can post test runs"},
		{"test without a prompt", userOmar, chGeneral, "test", "Usage: `/agent test <prompt>`"},
		{"channel not allowed", userAnna, chOther, "hello", "not enabled in this channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := e.slash(tc.user, tc.channel, tc.text)
			var ack struct {
				ResponseType string `json:"response_type"`
				Text         string `json:"text"`
			}
			if err := json.Unmarshal([]byte(body), &ack); err != nil {
				t.Fatalf("ack %q: %v", body, err)
			}
			if ack.ResponseType != "ephemeral" || !strings.Contains(ack.Text, tc.want) {
				t.Errorf("ack = %+v, want ephemeral containing %q", ack, tc.want)
			}
		})
	}
	if n := e.Runtime.RunsStarted(); n != 0 {
		t.Errorf("%d runs started, want none", n)
	}
	if calls := e.Slack.CallsTo("chat.postMessage"); len(calls) != 0 {
		t.Errorf("posted %d messages, want none", len(calls))
	}
}

// TestForgedRequestsStartNothing sends requests Slack did not sign (or
// signed for something else) to every Slack route.
func TestForgedRequestsStartNothing(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	form := url.Values{"team_id": {bottest.Team}, "channel_id": {chGeneral}, "user_id": {userAnna},
		"command": {"/agent"}, "text": {"do something"}, "trigger_id": {"1.2"}}.Encode()
	now := strconv.FormatInt(time.Now().Unix(), 10)
	stale := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	tests := []struct {
		name      string
		path      string
		body      string
		ts, sig   string
		setHeader bool
	}{
		{"forged signature", "/slack/commands", form, now, "v0=" + strings.Repeat("ab", 32), true},
		{"signed with another secret", "/slack/commands", form, now, bottest.Sign("not-the-secret", now, []byte(form)), true},
		{"stale timestamp", "/slack/commands", form, stale, bottest.Sign(bottest.Secret, stale, []byte(form)), true},
		{"replayed signature, other body", "/slack/commands", form + "&x=1", now, bottest.Sign(bottest.Secret, now, []byte(form)), true},
		{"unsigned", "/slack/commands", form, "", "", false},
		{"unsigned event", "/slack/events", `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","user":"U1","text":"hi","ts":"1.1","channel":"C1"}}`, "", "", false},
		{"forged interaction", "/slack/interactions", "payload=%7B%7D", now, "v0=00", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.URL+tc.path, bytes.NewBufferString(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.setHeader {
				req.Header.Set("X-Slack-Request-Timestamp", tc.ts)
				req.Header.Set("X-Slack-Signature", tc.sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	if n := len(e.Runtime.RunRequests()); n != 0 {
		t.Errorf("%d run requests reached the runtime, want none", n)
	}
	if calls := e.Slack.Calls(); len(calls) != 1 || calls[0].Method != "auth.test" {
		t.Errorf("Slack saw %d calls beyond auth.test, want none", len(calls)-1)
	}
}

// TestRuntimeErrorsReachTheThread: every runtime error status becomes a
// readable message in the thread: at once for a permanent one, after the
// job's last attempt for one that says "try again" (409, 429, 503).
func TestRuntimeErrorsReachTheThread(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{400, "rejected the request"},
		{401, "rejected this bot's API key"},
		{403, "rejected this bot's API key"},
		{404, "agent configured for this channel was not found"},
		{409, "busy with another run"},
		{422, "rejected the request"},
		{429, "rate limiting"},
		{502, "failed upstream"},
		{503, "unavailable right now"},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			if tc.status == http.StatusTooManyRequests && testing.Short() {
				// The fake answers Retry-After: 1, which the client honours
				// on every retry of every attempt.
				t.Skip("waits out Retry-After on each retry, about 18 s: slow test; skipped under -short")
			}
			e := newTestEnv(t, agentstest.Echo(), nil, nil)
			e.Runtime.FailRunStarts(1000, tc.status)
			root := e.ask(userAnna, chGeneral, "hello")
			got := bottest.AnswerText(e.Slack, chGeneral, root)
			// ":warning:" where the note replaces a reply posted by an
			// earlier attempt, "⚠️" where it closes a Slack stream.
			if !strings.Contains(got, tc.want) || !strings.Contains(got, "⚠️") && !strings.Contains(got, ":warning:") {
				t.Errorf("thread says %q, want a warning containing %q", got, tc.want)
			}
			if e.Runtime.RunsStarted() != 0 {
				t.Errorf("a run started")
			}
		})
	}
}

func TestRunFailureAndRuntimeDown(t *testing.T) {
	t.Run("run ends in error", func(t *testing.T) {
		e := newTestEnv(t, agentstest.Scripted(agentstest.Text("Looking… "), agentstest.Fail("tool exploded")), nil, nil)
		root := e.ask(userAnna, chGeneral, "go")
		got := bottest.AnswerText(e.Slack, chGeneral, root)
		if !strings.Contains(got, "Looking…") || !strings.Contains(got, "The run failed: tool exploded") {
			t.Errorf("thread = %q, want the text shown so far and the failure", got)
		}
	})
	t.Run("runtime down: ack still sent, then a clear message", func(t *testing.T) {
		e := newTestEnv(t, agentstest.Echo(), nil, nil)
		e.Runtime.SetDown(true)
		root := e.ask(userAnna, chGeneral, "anyone there?")
		if got := bottest.AnswerText(e.Slack, chGeneral, root); !strings.Contains(got, "runtime") {
			t.Errorf("thread = %q, want a message about the runtime", got)
		}
	})
	t.Run("runtime slow: ack is immediate, answer arrives", func(t *testing.T) {
		e := newTestEnv(t, agentstest.Echo(), nil, nil)
		e.Runtime.SetLatency(4 * time.Second) // longer than Slack's 3 s
		root := e.ask(userAnna, chGeneral, "slow one")
		if got := bottest.AnswerText(e.Slack, chGeneral, root); !strings.Contains(got, "You said: slow one") {
			t.Errorf("thread = %q", got)
		}
	})
}

func TestBotNotInChannelIsToldThroughResponseURL(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	e.Slack.NotInChannel(chOther)
	e.slash(userAnna, chOther, "hello")
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool { return len(f.Ephemerals()) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	eph := e.Slack.Ephemerals()[0]
	if eph.User != userAnna || !strings.Contains(eph.Text, "/invite") {
		t.Errorf("ephemeral = %+v, want an invite hint for anna", eph)
	}
	if e.Runtime.RunsStarted() != 0 {
		t.Error("a run started although nothing could be posted")
	}
}

// TestLongAnswerArrivesComplete: a 60,000-character Markdown answer with
// code blocks is split across messages and loses nothing.
func TestLongAnswerArrivesComplete(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 60000; i++ {
		if i%7 == 3 {
			b.WriteString("```go\n")
			for j := 0; j < 30; j++ {
				b.WriteString("fmt.Println(\"line " + strconv.Itoa(i) + "." + strconv.Itoa(j) + "\")\n")
			}
			b.WriteString("```\n\n")
			continue
		}
		b.WriteString("Paragraph " + strconv.Itoa(i) + " has **bold** words and a [link](https://example.com/" + strconv.Itoa(i) + ").\n\n")
	}
	answer := b.String()
	e := newTestEnv(t, agentstest.Scripted(agentstest.Text(answer)), nil, nil)
	root := e.ask(userAnna, chGeneral, "write a lot")
	replies := e.waitReplies(chGeneral, root, 2)
	var got strings.Builder
	for _, m := range replies {
		md := bottest.MarkdownOf(m)
		if strings.Count(md, "```")%2 != 0 {
			t.Errorf("message %s has an unbalanced code fence", m.TS)
		}
		got.WriteString(md)
	}
	normalize := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if normalize(got.String()) != normalize(answer) {
		t.Errorf("answer changed on the way: got %d chars in %d messages, want %d chars", got.Len(), len(replies), len(answer))
	}
}

// TestSameThreadSameThreadID: the mapping is a pure function of the
// conversation, so every replica and restart agrees.
func TestSameThreadSameThreadID(t *testing.T) {
	k := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "1700000000.000100"}
	// The README's recipe, computed independently:
	// python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, "slack://T1/C1/1700000000.000100"))'
	if got, want := slackbot.ThreadID(k), "7f60b8ab-39e7-5878-83f5-db6b98e3803c"; got != want {
		t.Fatalf("ThreadID(%v) = %s, want %s (the documented uuid5 recipe)", k, got, want)
	}
	other := k
	other.RootTS = "1700000000.000200"
	if slackbot.ThreadID(k) == slackbot.ThreadID(other) {
		t.Fatal("different threads share an id")
	}
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	root := e.ask(userAnna, chGeneral, "first")
	ev := e.UserSays(userAnna, chGeneral, "channel", "second", root)
	if code, err := e.Event("Ev-same-thread", ev, 0); err != nil || code != 200 {
		t.Fatalf("event: %d %v", code, err)
	}
	e.waitReplies(chGeneral, root, 2)
	e.ask(userBen, chGeneral, "another thread")
	var runPaths []string
	for _, r := range e.Runtime.Requests() {
		if r.StartsRun() {
			runPaths = append(runPaths, r.Path)
		}
	}
	if len(runPaths) != 3 {
		t.Fatalf("%d runs, want 3", len(runPaths))
	}
	if runPaths[0] != runPaths[1] {
		t.Errorf("a follow-up in the same Slack thread went to %s, not %s", runPaths[1], runPaths[0])
	}
	if runPaths[0] == runPaths[2] {
		t.Errorf("a new Slack thread reused a thread_id")
	}
}

// TestConcurrentCommands: many users at once each get their own answer.
func TestConcurrentCommands(t *testing.T) {
	// Twenty root posts in one channel at once are past Slack's ~1 post/s
	// per channel; this test is about concurrency, so the fake's rate tiers
	// are scaled up (TestRateTiers, TestPostRetriesOnlyRateLimits and the
	// live tests' 429 cases cover rate limits).
	e := newTestEnv(t, agentstest.Echo(), nil, nil, slackfake.WithRateTiers(20))
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, err := e.Slash(userAnna, chGeneral, "question "+strconv.Itoa(i)); err != nil || code != 200 {
				t.Errorf("ack %d %v", code, err)
			}
		}()
	}
	wg.Wait()
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		n := 0
		for _, m := range f.Messages(chGeneral) {
			if m.IsBot() && strings.Contains(m.Rendered, "You said: question") {
				n++
			}
		}
		return n == 20
	})
	if err != nil {
		t.Fatalf("not all 20 answered: %v", err)
	}
	if n := e.Runtime.RunsStarted(); n != 20 {
		t.Errorf("%d runs, want 20", n)
	}
}
