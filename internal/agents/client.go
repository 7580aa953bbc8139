package agents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of a Client.
const (
	DefaultUserAgent   = "deepagents-slackbot"
	DefaultTimeout     = 30 * time.Second // per request, not for run streams
	DefaultMaxAttempts = 4
	DefaultBaseDelay   = 200 * time.Millisecond
	DefaultMaxDelay    = 5 * time.Second

	// maxRetryAfter is the longest Retry-After the client waits for. When the
	// API asks for more it gives up and returns the *Error (whose RetryAfter
	// says how long), as no chat user waits that long for a retry.
	maxRetryAfter = time.Minute
)

// Client talks to the Managed Deep Agents API (or an Agent Server
// deployment, which serves the same run and thread routes). It is safe for
// concurrent use.
type Client struct {
	baseURL    string // no trailing slash
	apiKey     string
	http       *http.Client
	streamHTTP *http.Client // http without a client timeout: streams live as long as their ctx
	retry      retryPolicy
	logger     *slog.Logger
	userAgent  string
	dialect    Dialect
	caps       capabilities
	h2c        bool

	// sleep waits between attempts; tests replace it to record delays.
	sleep func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client for API calls (the client uses a copy).
// Its Timeout applies to ordinary calls only; run streams go without it and
// end with their context. Unless it has its own CheckRedirect, redirects to
// another host are not followed, so the API key stays with the API.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithH2C speaks cleartext HTTP/2 (h2c, with prior knowledge) to an
// http:// base URL, so that every run stream shares one connection instead
// of holding one each. Over https:// HTTP/2 is negotiated by TLS anyway. It
// needs the client's own transport: not with WithHTTPClient's Transport.
func WithH2C() Option { return func(c *Client) { c.h2c = true } }

// WithRetry sets how calls are retried: at most maxAttempts attempts in all,
// waiting a random delay ("full jitter") up to baseDelay·2ⁿ, capped at
// maxDelay, between them.
func WithRetry(maxAttempts int, baseDelay, maxDelay time.Duration) Option {
	return func(c *Client) {
		c.retry = retryPolicy{maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: maxDelay}
	}
}

// WithLogger sets the logger for retries. It never receives the API key or
// request bodies.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.logger = l } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the API at baseURL (e.g.
// "https://api.smith.langchain.com/v1/deepagents", or an Agent Server
// deployment's URL with WithDialect(AgentServer)) that authenticates with
// apiKey, which only an Agent Server may leave empty.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	switch {
	case err != nil:
		return nil, fmt.Errorf("agents: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("agents: base URL %q: scheme must be http or https", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("agents: base URL %q has no host", baseURL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, errors.New("agents: base URL must not carry a query, fragment or user info")
	}
	c := &Client{
		baseURL:   u.String(),
		apiKey:    apiKey,
		http:      &http.Client{Timeout: DefaultTimeout},
		retry:     retryPolicy{maxAttempts: DefaultMaxAttempts, baseDelay: DefaultBaseDelay, maxDelay: DefaultMaxDelay},
		logger:    slog.New(slog.DiscardHandler),
		userAgent: DefaultUserAgent,
		sleep:     sleepContext,
	}
	for _, opt := range opts {
		opt(c)
	}
	switch {
	case apiKey == "" && c.dialect == Managed:
		return nil, errors.New("agents: API key is empty")
	case c.http == nil:
		return nil, errors.New("agents: WithHTTPClient: nil client")
	case c.logger == nil:
		return nil, errors.New("agents: WithLogger: nil logger")
	case c.retry.maxAttempts < 1 || c.retry.baseDelay < 0 || c.retry.maxDelay < c.retry.baseDelay:
		return nil, fmt.Errorf("agents: WithRetry(%d, %s, %s): need at least 1 attempt and 0 <= baseDelay <= maxDelay",
			c.retry.maxAttempts, c.retry.baseDelay, c.retry.maxDelay)
	case c.h2c && u.Scheme != "http":
		return nil, fmt.Errorf("agents: WithH2C needs an http:// base URL, not %q", u.Scheme)
	case c.h2c && c.http.Transport != nil:
		return nil, errors.New("agents: WithH2C: the HTTP client has a transport of its own")
	}
	hc := *c.http // a copy: the caller's client is left as it was
	if hc.Transport == nil {
		hc.Transport = newTransport(c.h2c)
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = sameHostRedirects(u.Host)
	}
	c.http = &hc
	if c.dialect == AgentServer {
		// The Agent Server itself: every route the bot may use is there.
		c.caps.c = Capabilities{JoinStream: Yes, ThreadState: Yes, ThreadIDOnCreate: Yes, Cancel: Yes}
	}
	streamHTTP := hc
	streamHTTP.Timeout = 0
	c.streamHTTP = &streamHTTP
	return c, nil
}

// newTransport is the client's own transport. Every followed run holds a
// stream open: over HTTP/2 they share a few connections (a server's
// concurrent-stream limit, often 100-250, opens another), over HTTP/1.1
// each takes a connection of its own. ForceAttemptHTTP2 keeps h2 over TLS
// although the transport is not the default one; with h2c, http:// URLs
// speak HTTP/2 with prior knowledge.
func newTransport(h2c bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = true
	if h2c {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		t.Protocols = p
	}
	return t
}

// sameHostRedirects follows redirects only within host. net/http copies
// custom headers such as X-Api-Key to a redirect's target, so following one
// elsewhere would hand the key to another server; the 3xx is returned as an
// *Error instead.
func sameHostRedirects(host string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// CreateThreadRun starts a background run with POST /threads/runs, creating
// the thread first when the request asks for it. Any 2xx answer is the run.
//
// Answers 429, 502 and 503 mean the run did not start, so they are retried
// with backoff (429/503 honour Retry-After), as are connection failures
// before the request was fully written. A failure after the request was
// written is NOT retried, since a retry could start a second run: the error
// then wraps ErrOutcomeUnknown.
func (c *Client) CreateThreadRun(ctx context.Context, req *CreateRunRequest) (*Run, error) {
	if c.dialect != Managed {
		return nil, errors.New("agents: create run: POST /threads/runs is a Managed Deep Agents route; an Agent Server has none")
	}
	if req == nil || req.AgentID == "" {
		return nil, errors.New("agents: create run: agent_id is required")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("agents: create run: encode request: %w", err)
	}
	resp, err := c.send(ctx, call{
		op: "create run", method: http.MethodPost, path: "/threads/runs",
		body: body, startsRun: true,
	})
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	var run Run
	if err := decodeJSON(resp, &run); err != nil {
		// The API accepted the run; only its description got lost. The
		// caller finds the run as it would after a dropped connection.
		return nil, fmt.Errorf("agents: create run: run started but its answer was unreadable: %w: %w", ErrOutcomeUnknown, err)
	}
	if run.RunID == "" {
		run.RunID = RunIDFromContentLocation(resp.Header.Get("Content-Location"))
	}
	return &run, nil
}

// GetThread reads a thread's status and metadata (and, on an Agent Server,
// its values and interrupts) with GET /threads/{id}.
func (c *Client) GetThread(ctx context.Context, threadID string) (*Thread, error) {
	if threadID == "" {
		return nil, errors.New("agents: get thread: thread id is required")
	}
	resp, err := c.send(ctx, call{
		op: "get thread", method: http.MethodGet, path: "/threads/" + url.PathEscape(threadID),
	})
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	var th Thread
	if err := decodeJSON(resp, &th); err != nil {
		return nil, fmt.Errorf("agents: get thread: %w", err)
	}
	return &th, nil
}

// GetThreadState returns the "values" of GET /threads/{id}/state: the
// thread's latest state (messages, todos, __interrupt__...), possibly JSON
// null for a thread that never ran. The Managed Deep Agents API may not proxy
// this route; it then fails with a 404 *Error, and the client remembers that
// the route is missing (Capabilities), so call it only for threads that exist.
func (c *Client) GetThreadState(ctx context.Context, threadID string) (json.RawMessage, error) {
	if threadID == "" {
		return nil, errors.New("agents: get thread state: thread id is required")
	}
	resp, err := c.send(ctx, call{
		op: "get thread state", method: http.MethodGet, path: "/threads/" + url.PathEscape(threadID) + "/state",
	})
	if err != nil {
		if IsStreamUnsupported(err) {
			c.caps.learn(stateField, false)
		}
		return nil, err
	}
	c.caps.learn(stateField, true)
	defer drainClose(resp.Body)
	var state struct {
		Values json.RawMessage `json:"values"`
	}
	if err := decodeJSON(resp, &state); err != nil {
		return nil, fmt.Errorf("agents: get thread state: %w", err)
	}
	return state.Values, nil
}

// call describes one API operation for send.
type call struct {
	op          string // names the operation in errors and logs
	method      string
	path        string // already escaped, starting with "/"
	query       url.Values
	body        []byte
	accept      string // default application/json
	lastEventID string
	stream      bool // use the client without a timeout
	// startsRun marks a call that is not idempotent: a transport failure
	// after the request was fully written is not retried.
	startsRun bool
}

// send performs c with retries and returns the first 2xx response, whose body
// the caller must close. Non-2xx answers become *Error.
func (c *Client) send(ctx context.Context, cl call) (*http.Response, error) {
	hc := c.http
	if cl.stream {
		hc = c.streamHTTP
	}
	for attempt := 1; ; attempt++ {
		resp, written, err := c.attempt(ctx, hc, cl)
		var retryAfter time.Duration
		switch {
		case err != nil && cl.startsRun && written:
			// Also when ctx ended: the request got there either way.
			return nil, fmt.Errorf("agents: %s: %w: %w", cl.op, ErrOutcomeUnknown, err)
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("agents: %s: %w", cl.op, err)
		case err != nil:
			err = fmt.Errorf("agents: %s: %w", cl.op, err)
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		default:
			apiErr := c.readError(resp)
			err = fmt.Errorf("agents: %s: %w", cl.op, apiErr)
			if !retryableStatus(apiErr) {
				return nil, err
			}
			retryAfter = apiErr.RetryAfter
		}

		if attempt >= c.retry.maxAttempts || retryAfter > maxRetryAfter {
			return nil, err
		}
		delay := c.retry.delay(attempt, retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return nil, err // the retry could not happen in time
		}
		c.logger.LogAttrs(ctx, slog.LevelWarn, "agents: retrying",
			slog.String("op", cl.op), slog.Int("attempt", attempt),
			slog.Duration("delay", delay), slog.Any("error", err))
		if serr := c.sleep(ctx, delay); serr != nil {
			return nil, fmt.Errorf("agents: %s: stopped waiting to retry: %w (last error: %w)", cl.op, serr, err)
		}
	}
}

// attempt sends one request. written reports whether the request was fully
// written to the connection, which is what decides whether a failed run
// start may be retried.
func (c *Client) attempt(ctx context.Context, hc *http.Client, cl call) (resp *http.Response, written bool, err error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cl.method, u, body)
	if err != nil {
		return nil, false, err
	}
	if c.apiKey != "" { // an Agent Server may run without auth
		req.Header.Set("X-Api-Key", c.apiKey)
	}
	req.Header.Set("User-Agent", c.userAgent)
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.lastEventID != "" {
		req.Header.Set("Last-Event-ID", cl.lastEventID)
	}
	resp, err = hc.Do(req)
	// On error, net/http waits for its write loop before returning, so the
	// trace has seen every completed write by now.
	return resp, wrote.Load(), err
}

// readError drains and closes a non-2xx response into an *Error.
func (c *Client) readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	apiErr := decodeError(resp.StatusCode, body, c.apiKey)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		apiErr.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return apiErr
}

// retryableStatus reports whether an answer means "not done, try again":
// rate limited (429), upstream failure (502) or unavailable (503). A 502
// upstream_auth_failed is permanent (e.g. the agent was deleted).
func retryableStatus(e *Error) bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusBadGateway:
		return e.Code != "upstream_auth_failed"
	}
	return false
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // avoids overflow; beyond any wait anyway
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryPolicy is exponential backoff with full jitter.
type retryPolicy struct {
	maxAttempts         int
	baseDelay, maxDelay time.Duration
}

// delay is the wait after the given (1-based) failed attempt: what the API
// asked for when it did, else a random delay up to baseDelay·2^(attempt-1)
// capped at maxDelay.
func (p retryPolicy) delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	ceiling := p.maxDelay
	if shift := attempt - 1; shift < 30 && p.baseDelay<<shift < p.maxDelay {
		ceiling = p.baseDelay << shift
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// drainClose reads what is left of a small body before closing it, so that
// the connection can be reused.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	_ = body.Close()
}

// decodeJSON decodes a 2xx response body into v.
func decodeJSON(resp *http.Response, v any) error {
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %d response: %w", resp.StatusCode, err)
	}
	return nil
}
