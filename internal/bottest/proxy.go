package bottest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
)

// ProxiedRequest is one request that went through a RuntimeProxy or a
// HookRecorder.
type ProxiedRequest struct {
	Method, Path, LastEventID string
	Status                    int
}

type proxyConfig struct {
	tokenDelay time.Duration
	slowTools  map[string]time.Duration
}

// RuntimeProxy sits between the bot and the fake runtime. It records every
// request, paces the root tokens of run streams, holds streams after slow
// tool calls, and notes when each run's last token reached the bot.
type RuntimeProxy struct {
	srv *httptest.Server
	cfg proxyConfig

	mu        sync.Mutex
	requests  []ProxiedRequest
	lastToken map[string]time.Time // by thread id
	open      int                  // run streams being served
}

func newRuntimeProxy(runtimeURL string, cfg proxyConfig) (*RuntimeProxy, error) {
	target, err := url.Parse(strings.TrimSuffix(runtimeURL, agentstest.BasePath))
	if err != nil {
		return nil, fmt.Errorf("runtime URL: %w", err)
	}
	p := &RuntimeProxy{cfg: cfg, lastToken: map[string]time.Time{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4096
	rp := &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:      tr,
		FlushInterval:  -1,
		ModifyResponse: p.modify,
		// Cut streams are the point of some tests: do not log them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewServer(rp)
	return p, nil
}

// URL is the proxy's base URL (without the API's base path).
func (p *RuntimeProxy) URL() string { return p.srv.URL }

// Close cuts the streams it serves and stops.
func (p *RuntimeProxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *RuntimeProxy) modify(resp *http.Response) error {
	req := resp.Request
	p.mu.Lock()
	p.requests = append(p.requests, ProxiedRequest{
		Method: req.Method, Path: req.URL.Path, LastEventID: req.Header.Get("Last-Event-ID"), Status: resp.StatusCode,
	})
	p.mu.Unlock()
	if strings.HasSuffix(req.URL.Path, "/stream") && resp.StatusCode == http.StatusOK { // a join or a streamed run
		p.mu.Lock()
		p.open++
		p.mu.Unlock()
		resp.Body = &pacedBody{p: p, ctx: req.Context(), thread: pathThreadID(req.URL.Path), src: resp.Body, r: bufio.NewReader(resp.Body)}
	}
	return nil
}

// Requests returns every request the bot made to the runtime, in order.
func (p *RuntimeProxy) Requests() []ProxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxiedRequest(nil), p.requests...)
}

// OpenStreams counts the run streams being served now.
func (p *RuntimeProxy) OpenStreams() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// LastToken is when the last root token of thread's runs reached the bot.
func (p *RuntimeProxy) LastToken(threadID string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.lastToken[threadID]
	return at, ok
}

func pathThreadID(path string) string {
	parts := strings.Split(path, "/")
	for i, s := range parts {
		if s == "threads" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}

// pacedBody hands a run stream to the bot one event at a time, pacing it.
type pacedBody struct {
	p      *RuntimeProxy
	ctx    context.Context
	thread string
	src    io.ReadCloser
	r      *bufio.Reader
	buf    []byte
	err    error
	hold   time.Duration
	once   sync.Once
}

func (b *pacedBody) Read(out []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.hold > 0 {
			b.wait(b.hold)
			b.hold = 0
		}
		b.buf, b.err = readRawEvent(b.r)
		b.pace(b.buf)
	}
	n := copy(out, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *pacedBody) Close() error {
	b.once.Do(func() {
		b.p.mu.Lock()
		b.p.open--
		b.p.mu.Unlock()
	})
	return b.src.Close()
}

func (b *pacedBody) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.ctx.Done():
	}
}

// pace delays a root token and notes its time, or arranges a hold after a
// slow tool's call.
func (b *pacedBody) pace(raw []byte) {
	name, data := parseRawEvent(raw)
	switch name {
	case "messages":
		if !isTextToken(data) {
			return
		}
		if b.p.cfg.tokenDelay > 0 {
			b.wait(b.p.cfg.tokenDelay)
		}
		b.p.mu.Lock()
		b.p.lastToken[b.thread] = time.Now()
		b.p.mu.Unlock()
	case "updates":
		var nodes map[string]struct {
			Messages []struct {
				ToolCalls []struct {
					Name string `json:"name"`
				} `json:"tool_calls"`
			} `json:"messages"`
		}
		if json.Unmarshal(data, &nodes) != nil {
			return
		}
		for _, n := range nodes {
			for _, m := range n.Messages {
				for _, c := range m.ToolCalls {
					b.hold = max(b.hold, b.p.cfg.slowTools[c.Name])
				}
			}
		}
	}
}

// readRawEvent reads one SSE event (or comment) up to and including the
// blank line that ends it, as raw bytes: the proxy passes events through
// unchanged, so internal/agents' decoding reader does not fit here.
func readRawEvent(r *bufio.Reader) ([]byte, error) {
	var ev []byte
	for {
		line, err := r.ReadBytes('\n')
		ev = append(ev, line...)
		if err != nil {
			return ev, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return ev, nil
		}
	}
}

func parseRawEvent(raw []byte) (name string, data []byte) {
	var lines [][]byte
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			name = string(line[len("event: "):])
		case bytes.HasPrefix(line, []byte("data: ")):
			lines = append(lines, line[len("data: "):])
		}
	}
	return name, bytes.Join(lines, []byte("\n"))
}

// isTextToken reports whether a messages-tuple event carries answer text.
func isTextToken(data []byte) bool {
	var tuple []struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(data, &tuple) != nil || len(tuple) == 0 {
		return false
	}
	var s string
	if json.Unmarshal(tuple[0].Content, &s) == nil {
		return s != ""
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(tuple[0].Content, &blocks) != nil {
		return false
	}
	for _, bl := range blocks {
		if bl.Type == "text" && bl.Text != "" {
			return true
		}
	}
	return false
}

// HookRecorder stands for the bot's public URL: it records the run
// completion webhooks and forwards them to the bot.
type HookRecorder struct {
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	hits   []ProxiedRequest
}

func newHookRecorder() *HookRecorder {
	h := &HookRecorder{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(h.target.Load()) },
		ModifyResponse: func(resp *http.Response) error {
			h.mu.Lock()
			h.hits = append(h.hits, ProxiedRequest{Method: resp.Request.Method, Path: resp.Request.URL.Path, Status: resp.StatusCode})
			h.mu.Unlock()
			return nil
		},
	}
	h.srv = httptest.NewServer(rp)
	return h
}

// URL is the public URL it stands for.
func (h *HookRecorder) URL() string { return h.srv.URL }

func (h *HookRecorder) setTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bot URL: %w", err)
	}
	h.target.Store(u)
	return nil
}

// Hits are the webhook deliveries it forwarded, in order.
func (h *HookRecorder) Hits() []ProxiedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ProxiedRequest(nil), h.hits...)
}

// Close stops it.
func (h *HookRecorder) Close() {
	h.srv.CloseClientConnections()
	h.srv.Close()
}
