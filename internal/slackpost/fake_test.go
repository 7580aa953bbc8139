package slackpost

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// recordedCall is one request the fake Slack received.
type recordedCall struct {
	Method string
	Form   url.Values     // form-encoded calls
	JSON   map[string]any // JSON calls (views.open, response_url)
}

// reply is a scripted answer for the next call of a method.
type reply struct {
	status     int
	retryAfter string
	slackError string // ok:false with this error
}

// fakeSlack is a Web API server that records every call and answers like
// Slack: ok responses with increasing ts, or scripted errors.
type fakeSlack struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	calls   []recordedCall
	scripts map[string][]reply
	always  map[string]reply // answer every call of a method like this
	nextTS  int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{t: t, scripts: map[string][]reply{}, always: map[string]reply{}, nextTS: 1}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) poster(t *testing.T) *Poster {
	api := slack.New("xoxb-test", slack.OptionAPIURL(f.srv.URL+"/"))
	// No pacing, and a clock that jumps over every wait (recording it):
	// the tests see exactly the waits 429s cause.
	sched := NewScheduler(0)
	sched.clk = &jumpClock{f: f, now: time.Unix(1_700_000_000, 0)}
	return New(api, WithHTTPClient(f.srv.Client()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithScheduler(sched))
}

// jumpClock moves time on by every wait at once, recording the wait as a
// "(wait …)" call; onWait, if set, runs first.
type jumpClock struct {
	f      *fakeSlack
	mu     sync.Mutex
	now    time.Time
	onWait func(d time.Duration)
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *jumpClock) After(d time.Duration) <-chan time.Time {
	c.f.mu.Lock()
	c.f.calls = append(c.f.calls, recordedCall{Method: "(wait " + d.String() + ")"})
	c.f.mu.Unlock()
	c.mu.Lock()
	hook := c.onWait
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	c.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	return ch
}

// script queues answers for the next calls of method.
func (f *fakeSlack) script(method string, rs ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[method] = append(f.scripts[method], rs...)
}

func (f *fakeSlack) setAlways(method string, r reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always[method] = r
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	c := recordedCall{Method: method}
	body, _ := io.ReadAll(r.Body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &c.JSON)
	} else {
		c.Form, _ = url.ParseQuery(string(body))
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	rep, scripted := reply{}, false
	if q := f.scripts[method]; len(q) > 0 {
		rep, scripted = q[0], true
		f.scripts[method] = q[1:]
	} else if a, ok := f.always[method]; ok {
		rep, scripted = a, true
	}
	ts := fmt.Sprintf("1700000000.%06d", f.nextTS)
	f.nextTS++
	f.mu.Unlock()

	if scripted && rep.status != 0 && rep.status != http.StatusOK {
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.WriteHeader(rep.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if scripted && rep.slackError != "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": rep.slackError})
		return
	}
	resp := map[string]any{"ok": true, "channel": c.Form.Get("channel")}
	switch method {
	case "chat.postMessage", "chat.startStream":
		resp["ts"] = ts
	case "chat.update", "chat.appendStream", "chat.stopStream":
		resp["ts"] = c.Form.Get("ts")
	case "chat.postEphemeral":
		resp["message_ts"] = ts
	case "views.open":
		resp["view"] = map[string]any{"id": "V1"}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// all returns the calls so far (waits included, as "(wait …)").
func (f *fakeSlack) all() []recordedCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedCall(nil), f.calls...)
}

// of returns the calls of one method.
func (f *fakeSlack) of(method string) []recordedCall {
	var out []recordedCall
	for _, c := range f.all() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// methods lists the methods called, in order.
func (f *fakeSlack) methods() []string {
	var out []string
	for _, c := range f.all() {
		out = append(out, c.Method)
	}
	return out
}

// waitFor blocks until cond holds for the recorded calls. The deadline only
// guards against a hang; no test depends on how fast things happen.
func (f *fakeSlack) waitFor(t *testing.T, what string, cond func([]recordedCall) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(f.all()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; calls: %v", what, f.methods())
		}
		time.Sleep(time.Millisecond)
	}
}

func countMethod(calls []recordedCall, method string) int {
	n := 0
	for _, c := range calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// blocksText joins the text of the blocks of a form-encoded message call.
func blocksText(t *testing.T, c recordedCall) string {
	t.Helper()
	raw := c.Form.Get("blocks")
	if raw == "" {
		return ""
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		t.Fatalf("blocks are not JSON: %v", err)
	}
	var parts []string
	for _, b := range blocks {
		switch b["type"] {
		case "markdown":
			parts = append(parts, b["text"].(string))
		case "section":
			parts = append(parts, b["text"].(map[string]any)["text"].(string))
		case "context":
			for _, e := range b["elements"].([]any) {
				parts = append(parts, e.(map[string]any)["text"].(string))
			}
		}
	}
	return strings.Join(parts, "\n")
}

// fakeClock is a manual clock for the flusher's throttle.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time // After's; nil for AfterFunc's
	f  func()         // AfterFunc's, called in a goroutine of its own
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, &fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &fakeWaiter{at: c.now.Add(d), f: f}
	if d <= 0 {
		go f()
		return fakeStopper{c: c, w: w}
	}
	c.waiters = append(c.waiters, w)
	return fakeStopper{c: c, w: w}
}

// fakeStopper stops one AfterFunc of a fakeClock.
type fakeStopper struct {
	c *fakeClock
	w *fakeWaiter
}

func (s fakeStopper) Stop() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	i := slices.Index(s.c.waiters, s.w)
	if i < 0 {
		return false
	}
	s.c.waiters = slices.Delete(s.c.waiters, i, i+1)
	return true
}

// Advance moves time on and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var kept []*fakeWaiter
	for _, w := range c.waiters {
		switch {
		case w.at.After(c.now):
			kept = append(kept, w)
		case w.f != nil:
			go w.f()
		default:
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// waitForTimer blocks until someone waits on the clock.
func (c *fakeClock) waitForTimer(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the flusher to wait on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}
