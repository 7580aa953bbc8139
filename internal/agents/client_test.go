package agents

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		baseURL string
		apiKey  string
		opts    []Option
	}{
		{"bad scheme", "ftp://example.com", "k", nil},
		{"no host", "https://", "k", nil},
		{"query", "https://example.com/v1?x=1", "k", nil},
		{"empty key", "https://example.com", "", nil},
		{"nil http client", "https://example.com", "k", []Option{WithHTTPClient(nil)}},
		{"zero attempts", "https://example.com", "k", []Option{WithRetry(0, time.Millisecond, time.Second)}},
		{"max below base", "https://example.com", "k", []Option{WithRetry(3, time.Second, time.Millisecond)}},
		{"nil logger", "https://example.com", "k", []Option{WithLogger(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.baseURL, tt.apiKey, tt.opts...); err == nil {
				t.Fatal("New succeeded, want an error")
			} else if tt.apiKey != "" && strings.Contains(err.Error(), tt.apiKey+"\"") {
				t.Errorf("error %q mentions the key", err)
			}
		})
	}
	if _, err := New("https://api.smith.langchain.com/v1/deepagents/", "k"); err != nil {
		t.Fatalf("New with a valid URL: %v", err)
	}
}

func slackRunRequest() *CreateRunRequest {
	return &CreateRunRequest{
		AgentID: "agent-1",
		Thread: &ThreadSpec{
			ThreadID: "5f0c1c52-1111-5222-8333-444455556666",
			IfExists: IfExistsDoNothing,
			Metadata: map[string]string{
				"slack_team_id": "T1", "slack_channel_id": "C1", "slack_thread_ts": "1700000000.000100", "slack_user_id": "U1",
			},
			Options: &ThreadOptions{TestRun: true},
		},
		Input:             &Input{Messages: []Message{{Role: RoleUser, Content: "summarise the incident"}}},
		Metadata:          map[string]string{"slack_user_id": "U1", "slack_message_ts": "1700000000.000100"},
		MultitaskStrategy: "enqueue",
	}
}

func TestCreateThreadRunSendsExactRequest(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL()+"/", WithUserAgent("slackbot-test/1"))

	run, err := c.CreateThreadRun(context.Background(), slackRunRequest())
	if err != nil {
		t.Fatalf("CreateThreadRun: %v", err)
	}
	if run.RunID != "run-1" || run.ThreadID != "5f0c1c52-1111-5222-8333-444455556666" || run.AgentID != "agent-1" || run.Status != RunPending {
		t.Errorf("run = %+v", run)
	}
	if want := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC); !run.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", run.CreatedAt, want)
	}

	reqs := api.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	got := reqs[0]
	wantBody := `{"agent_id":"agent-1",` +
		`"thread":{"thread_id":"5f0c1c52-1111-5222-8333-444455556666","if_exists":"do_nothing",` +
		`"metadata":{"slack_channel_id":"C1","slack_team_id":"T1","slack_thread_ts":"1700000000.000100","slack_user_id":"U1"},` +
		`"options":{"test_run":true,"skip_memory_write_protection":false}},` +
		`"input":{"messages":[{"role":"user","content":"summarise the incident"}]},` +
		`"metadata":{"slack_message_ts":"1700000000.000100","slack_user_id":"U1"},` +
		`"multitask_strategy":"enqueue"}`
	if got.Method != http.MethodPost || got.Path != "/v1/deepagents/threads/runs" || got.RawQuery != "" {
		t.Errorf("request line = %s %s?%s", got.Method, got.Path, got.RawQuery)
	}
	if got.Body != wantBody {
		t.Errorf("body =\n%s\nwant\n%s", got.Body, wantBody)
	}
	for k, want := range map[string]string{
		"X-Api-Key":    fakeAPIKey,
		"Content-Type": "application/json",
		"Accept":       "application/json",
		"User-Agent":   "slackbot-test/1",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
}

func TestCreateThreadRunResume(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	req := &CreateRunRequest{
		AgentID: "agent-1",
		Thread:  &ThreadSpec{ThreadID: "t-1", IfExists: IfExistsDoNothing},
		Command: &Command{Resume: &Resume{Decisions: []Decision{{Type: DecisionApprove}, {Type: DecisionReject, Message: "no"}}}},
	}
	if _, err := c.CreateThreadRun(context.Background(), req); err != nil {
		t.Fatalf("CreateThreadRun: %v", err)
	}
	want := `{"agent_id":"agent-1","thread":{"thread_id":"t-1","if_exists":"do_nothing"},` +
		`"command":{"resume":{"decisions":[{"type":"approve"},{"type":"reject","message":"no"}]}}}`
	if got := api.seen()[0].Body; got != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
}

func TestCreateThreadRunAny2xxIsARun(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	// 201 without run_id in the body: the id comes from Content-Location.
	api.queue(answer(http.StatusCreated, `{"thread_id":"t-9","status":"running"}`,
		"Content-Location", "/threads/t-9/runs/run-from-header"))
	run, err := c.CreateThreadRun(context.Background(), slackRunRequest())
	if err != nil {
		t.Fatalf("CreateThreadRun: %v", err)
	}
	if run.RunID != "run-from-header" || run.Status != RunRunning {
		t.Errorf("run = %+v", run)
	}
}

func TestCreateThreadRunUnreadable2xxIsNotRetried(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	api.queue(answer(http.StatusOK, `<html>`))
	if _, err := c.CreateThreadRun(context.Background(), slackRunRequest()); err == nil {
		t.Fatal("want an error")
	}
	if n := len(api.seen()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestCreateThreadRunRequiresAgent(t *testing.T) {
	c, _ := newFakeClient(t, "http://127.0.0.1:1")
	if _, err := c.CreateThreadRun(context.Background(), &CreateRunRequest{}); err == nil {
		t.Fatal("want an error for a missing agent_id")
	}
	if _, err := c.CreateThreadRun(context.Background(), nil); err == nil {
		t.Fatal("want an error for a nil request")
	}
}

// TestErrorStatuses: every error answer decodes to the right *Error, and
// only 429/502/503 are retried (until attempts run out).
func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		status  int
		body    string
		want    Error
		retried bool
	}{
		{400, errorResponse(400, "missing_required_field", "Provide agent_id: field is required"),
			Error{Code: "missing_required_field", Type: "https://docs.langchain.com/errors/missing_required_field", Detail: "Provide agent_id: field is required"}, false},
		{401, `{"error":"Unauthorized"}`, Error{Message: "Unauthorized"}, false},
		{403, `{"error":"Forbidden"}`, Error{Message: "Forbidden"}, false},
		{404, errorResponse(404, "agent_not_found", "Check the agent id: agent not found"),
			Error{Code: "agent_not_found", Type: "https://docs.langchain.com/errors/agent_not_found", Detail: "Check the agent id: agent not found"}, false},
		{409, `{"detail":"Thread is already running a task."}`, Error{Detail: "Thread is already running a task."}, false},
		{422, `{"detail":[{"loc":["body","input"],"msg":"field required","type":"missing"}]}`, Error{Detail: "body.input: field required"}, false},
		{429, `{"message":"Too many requests"}`, Error{Message: "Too many requests"}, true},
		{502, errorResponse(502, "upstream_error", "Retry later: upstream runtime failed"),
			Error{Code: "upstream_error", Type: "https://docs.langchain.com/errors/upstream_error", Detail: "Retry later: upstream runtime failed"}, true},
		{503, `<html><body>Service Unavailable</body></html>`, Error{Message: "<html><body>Service Unavailable</body></html>"}, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			api := newFakeAPI(t)
			c, rec := newFakeClient(t, api.URL())
			for range 4 {
				api.queue(answer(tt.status, tt.body))
			}
			_, err := c.CreateThreadRun(context.Background(), slackRunRequest())
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			want := tt.want
			want.StatusCode = tt.status
			if *apiErr != want {
				t.Errorf("error = %+v\nwant    %+v", *apiErr, want)
			}
			if ErrorStatus(err) != tt.status {
				t.Errorf("ErrorStatus = %d", ErrorStatus(err))
			}
			wantAttempts := 1
			if tt.retried {
				wantAttempts = 4
			}
			if n := len(api.seen()); n != wantAttempts {
				t.Errorf("%d attempts, want %d", n, wantAttempts)
			}
			if n := len(rec.recorded()); n != wantAttempts-1 {
				t.Errorf("%d backoff waits, want %d", n, wantAttempts-1)
			}
			if api.started() != 0 {
				t.Errorf("%d runs started, want 0", api.started())
			}
		})
	}
}

func TestAuthLayerAnswers(t *testing.T) {
	api := newFakeAPI(t)
	c, err := New(api.URL(), "sk-wrong-key-abcdef")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetThread(context.Background(), "t-1")
	if ErrorStatus(err) != http.StatusForbidden {
		t.Fatalf("err = %v, want 403", err)
	}
	if strings.Contains(err.Error(), "sk-wrong-key-abcdef") {
		t.Errorf("error %q contains the API key", err)
	}
}

func TestRetriedStatusThenSuccess(t *testing.T) {
	for _, status := range []int{429, 502, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			api := newFakeAPI(t)
			c, rec := newFakeClient(t, api.URL())
			api.queue(answer(status, `{}`), answer(status, `{}`))
			run, err := c.CreateThreadRun(context.Background(), slackRunRequest())
			if err != nil {
				t.Fatalf("CreateThreadRun: %v", err)
			}
			if run.RunID != "run-1" {
				t.Errorf("run id %q", run.RunID)
			}
			if api.started() != 1 {
				t.Errorf("%d runs started, want exactly 1", api.started())
			}
			reqs := api.seen()
			if len(reqs) != 3 {
				t.Fatalf("%d attempts, want 3", len(reqs))
			}
			for _, r := range reqs[1:] {
				if r.Body != reqs[0].Body {
					t.Errorf("retry body differs:\n%s\n%s", r.Body, reqs[0].Body)
				}
			}
			for i, d := range rec.recorded() {
				if ceiling := time.Millisecond << i; d < 0 || d > ceiling {
					t.Errorf("wait %d = %v, want within [0, %v]", i, d, ceiling)
				}
			}
		})
	}
}

func TestPermanent502IsNotRetried(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	api.queue(answer(502, errorResponse(502, "upstream_auth_failed", "Upstream runtime rejected the request")))
	_, err := c.CreateThreadRun(context.Background(), slackRunRequest())
	if ErrorStatus(err) != 502 || len(api.seen()) != 1 {
		t.Errorf("err = %v after %d attempts; want one 502", err, len(api.seen()))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		min, max   time.Duration
	}{
		{"429 seconds", 429, "2", 2 * time.Second, 2 * time.Second},
		{"503 seconds", 503, "1", time.Second, time.Second},
		{"503 http date", 503, date, time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			c, rec := newFakeClient(t, api.URL())
			api.queue(answer(tt.status, `{}`, "Retry-After", tt.retryAfter))
			if _, err := c.CreateThreadRun(context.Background(), slackRunRequest()); err != nil {
				t.Fatalf("CreateThreadRun: %v", err)
			}
			waits := rec.recorded()
			if len(waits) != 1 || waits[0] < tt.min || waits[0] > tt.max {
				t.Errorf("waits = %v, want one in [%v, %v]", waits, tt.min, tt.max)
			}
		})
	}
}

func TestRetryAfterTooLongGivesUp(t *testing.T) {
	api := newFakeAPI(t)
	c, rec := newFakeClient(t, api.URL())
	api.queue(answer(429, `{"error":"Too Many Requests"}`, "Retry-After", "120"))
	_, err := c.CreateThreadRun(context.Background(), slackRunRequest())
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != 2*time.Minute {
		t.Fatalf("err = %v, want a 429 *Error with RetryAfter 2m", err)
	}
	if len(rec.recorded()) != 0 || len(api.seen()) != 1 {
		t.Errorf("retried (%d requests), want no retry", len(api.seen()))
	}
}

func TestBackoffStopsWithContext(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the caller gives up while the client waits to retry
		return sleepContext(ctx, time.Hour)
	}
	api.queue(answer(503, `{}`), answer(503, `{}`))
	_, err := c.CreateThreadRun(ctx, slackRunRequest())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if ErrorStatus(err) != 503 {
		t.Errorf("err = %v, want it to keep the last 503", err)
	}
	if n := len(api.seen()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestDialFailuresAreRetried(t *testing.T) {
	addr := closedAddr(t)
	c, rec := newFakeClient(t, "http://"+addr+"/v1/deepagents")
	_, err := c.CreateThreadRun(context.Background(), slackRunRequest())
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Fatalf("err = %v, want a dial error", err)
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("a dial failure cannot have started a run: %v", err)
	}
	if n := len(rec.recorded()); n != 3 {
		t.Errorf("%d backoff waits, want 3 (4 attempts)", n)
	}
}

func TestDialFailureThenSuccessStartsOneRun(t *testing.T) {
	api := newFakeAPI(t)
	dead := closedAddr(t)
	var dials atomic.Int32
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials.Add(1) == 1 {
				addr = dead // the first connection attempt is refused
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer transport.CloseIdleConnections()
	c, rec := newFakeClient(t, api.URL(), WithHTTPClient(&http.Client{Transport: transport}))
	if _, err := c.CreateThreadRun(context.Background(), slackRunRequest()); err != nil {
		t.Fatalf("CreateThreadRun: %v", err)
	}
	if api.started() != 1 || len(rec.recorded()) != 1 {
		t.Errorf("runs started = %d, waits = %d; want 1 and 1", api.started(), len(rec.recorded()))
	}
}

// TestDropAfterWriteIsNotRetried: the API read the whole request and started
// the run, then the connection dropped. Retrying could start a second run.
func TestDropAfterWriteIsNotRetried(t *testing.T) {
	api := newFakeAPI(t)
	c, rec := newFakeClient(t, api.URL())
	api.queue(dropAfterStart())
	_, err := c.CreateThreadRun(context.Background(), slackRunRequest())
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
	}
	if api.started() != 1 {
		t.Errorf("%d runs started, want exactly 1", api.started())
	}
	if n := len(api.seen()); n != 1 || len(rec.recorded()) != 0 {
		t.Errorf("%d requests and %d waits, want 1 and 0", n, len(rec.recorded()))
	}
}

// TestDropAfterWriteIsRetriedForReads: reading a thread is idempotent, so
// the same failure is retried.
func TestDropAfterWriteIsRetriedForReads(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	if _, err := c.CreateThreadRun(context.Background(), slackRunRequest()); err != nil {
		t.Fatal(err)
	}
	api.queue(dropAfterStart())
	th, err := c.GetThread(context.Background(), "5f0c1c52-1111-5222-8333-444455556666")
	if err != nil {
		t.Fatalf("GetThread: %v", err)
	}
	if th.ThreadID != "5f0c1c52-1111-5222-8333-444455556666" {
		t.Errorf("thread = %+v", th)
	}
}

func TestGetThread(t *testing.T) {
	api := newFakeAPI(t)
	c, rec := newFakeClient(t, api.URL())
	if _, err := c.CreateThreadRun(context.Background(), slackRunRequest()); err != nil {
		t.Fatal(err)
	}
	api.queue(answer(502, `{}`))
	th, err := c.GetThread(context.Background(), "5f0c1c52-1111-5222-8333-444455556666")
	if err != nil {
		t.Fatalf("GetThread: %v", err)
	}
	if th.ThreadID != "5f0c1c52-1111-5222-8333-444455556666" || th.Status != ThreadIdle || th.Metadata["skip_memory_write_protection"] != false {
		t.Errorf("thread = %+v", th)
	}
	if len(rec.recorded()) != 1 {
		t.Errorf("502 was not retried")
	}
	last := api.seen()[len(api.seen())-1]
	if last.Method != http.MethodGet || last.Path != "/v1/deepagents/threads/5f0c1c52-1111-5222-8333-444455556666" {
		t.Errorf("request = %s %s", last.Method, last.Path)
	}
	if last.Header.Get("Content-Type") != "" || last.Header.Get("Accept") != "application/json" || last.Header.Get("X-Api-Key") != fakeAPIKey {
		t.Errorf("headers = %v", last.Header)
	}

	_, err = c.GetThread(context.Background(), "no-such-thread")
	if ErrorStatus(err) != http.StatusNotFound {
		t.Errorf("unknown thread: err = %v, want 404", err)
	}
	if _, err := c.GetThread(context.Background(), ""); err == nil {
		t.Error("empty thread id: want an error")
	}
}

func TestGetThreadEscapesID(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	_, _ = c.GetThread(context.Background(), "a/b?c")
	if got := api.seen()[0].EscapedPath; got != "/v1/deepagents/threads/a%2Fb%3Fc" {
		t.Errorf("path = %q, want the id as one escaped segment", got)
	}
	if q := api.seen()[0].RawQuery; q != "" {
		t.Errorf("the id leaked into the query: %q", q)
	}
}

func TestGetThreadState(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())

	// Like the MDA API: the route is not there.
	_, err := c.GetThreadState(context.Background(), "t-1")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("err = %v, want a 404 *Error", err)
	}

	// Like an Agent Server.
	api.queue(answer(200, `{"values":{"messages":[{"type":"ai","content":"done"}]},"next":[],"tasks":[],"interrupts":[]}`))
	values, err := c.GetThreadState(context.Background(), "t-1")
	if err != nil {
		t.Fatalf("GetThreadState: %v", err)
	}
	if string(values) != `{"messages":[{"type":"ai","content":"done"}]}` {
		t.Errorf("values = %s", values)
	}
	if p := api.seen()[1].Path; p != "/v1/deepagents/threads/t-1/state" {
		t.Errorf("path = %q", p)
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := retryPolicy{maxAttempts: 10, baseDelay: 200 * time.Millisecond, maxDelay: 5 * time.Second}
	for attempt := 1; attempt <= 40; attempt++ {
		ceiling := min(p.baseDelay<<min(attempt-1, 20), p.maxDelay)
		for range 20 {
			if d := p.delay(attempt, 0); d < 0 || d > ceiling {
				t.Fatalf("delay(%d) = %v, want within [0, %v]", attempt, d, ceiling)
			}
		}
	}
	if d := p.delay(1, 7*time.Second); d != 7*time.Second {
		t.Errorf("with Retry-After: %v, want 7s", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"99999999999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestThreadUnmarshalBothIDs(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{`{"id":"mda-1","status":"idle"}`, "mda-1"},
		{`{"thread_id":"as-1","status":"busy","values":{"messages":[]}}`, "as-1"},
		{`{"id":"x","thread_id":"as-2"}`, "as-2"},
	}
	for _, tt := range tests {
		var th Thread
		if err := json.Unmarshal([]byte(tt.body), &th); err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if th.ThreadID != tt.want {
			t.Errorf("%s: ThreadID = %q, want %q", tt.body, th.ThreadID, tt.want)
		}
	}
	var th Thread
	_ = json.Unmarshal([]byte(`{"thread_id":"t","status":"interrupted","values":{"a":1},"interrupts":{"task":[]}}`), &th)
	if th.Status != ThreadInterrupted || string(th.Values) != `{"a":1}` || string(th.Interrupts) != `{"task":[]}` {
		t.Errorf("thread = %+v", th)
	}
}

// TestCanceledAfterWriteIsOutcomeUnknown: the caller gave up while the API
// was starting the run; the caller must know the run may exist.
func TestCanceledAfterWriteIsOutcomeUnknown(t *testing.T) {
	api := newFakeAPI(t)
	c, _ := newFakeClient(t, api.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	api.queue(func(api *fakeAPI, w http.ResponseWriter, r *http.Request, body []byte) {
		api.startRun(body)
		close(started)
		<-r.Context().Done() // slow to answer
	})
	go func() {
		<-started
		cancel()
	}()
	_, err := c.CreateThreadRun(ctx, slackRunRequest())
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrOutcomeUnknown and context.Canceled", err)
	}
	if api.started() != 1 || len(api.seen()) != 1 {
		t.Errorf("%d runs, %d requests; want 1 and 1", api.started(), len(api.seen()))
	}
}

func TestKeyIsNotSentToAnotherHost(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("X-Api-Key") != "")
		writeJSON(w, 200, `{"id":"t-1"}`)
	}))
	defer other.Close()
	api := newFakeAPI(t)
	api.queue(answer(http.StatusTemporaryRedirect, `{}`, "Location", other.URL+"/threads/t-1"))
	c, _ := newFakeClient(t, api.URL())
	_, err := c.GetThread(context.Background(), "t-1")
	if ErrorStatus(err) != http.StatusTemporaryRedirect {
		t.Errorf("err = %v, want the 307 as an *Error", err)
	}
	if leaked.Load() {
		t.Error("the API key was sent to another host")
	}
}
