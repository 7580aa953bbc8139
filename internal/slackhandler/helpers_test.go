package slackhandler

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/deepagents-slack/slackbot"
)

const (
	testSecret  = "test-signing-secret"
	testBotUser = "UBOT"
	testBotID   = "BBOT"
)

// testNow is when the tests sign their requests: the verifier checks
// slack-go's 5-minute window on the real clock, and a test run is shorter.
var testNow = time.Now()

// fakeDispatcher records what it is given, like a dispatcher that queues work.
type fakeDispatcher struct {
	mu         sync.Mutex
	commands   []slackbot.Command
	messages   []slackbot.Message
	threads    []slackbot.AssistantThread
	contexts   []slackbot.AssistantThread
	stops      []slackbot.SessionStop
	actions    []slackbot.Action
	views      []slackbot.ViewSubmission
	reply      slackbot.Reply
	err        error             // returned by Message, AssistantThreadStarted and Action
	viewErrors map[string]string // returned by ViewSubmission
	// block, when set, makes every method wait on it, ignoring its context,
	// like a dispatcher stuck on a dead store.
	block chan struct{}
}

func (f *fakeDispatcher) wait() {
	if f.block != nil {
		<-f.block
	}
}

func (f *fakeDispatcher) Command(_ context.Context, c slackbot.Command) slackbot.Reply {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, c)
	return f.reply
}

func (f *fakeDispatcher) Message(_ context.Context, m slackbot.Message) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.messages = append(f.messages, m)
	return f.err
}

func (f *fakeDispatcher) AssistantThreadStarted(_ context.Context, t slackbot.AssistantThread) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.threads = append(f.threads, t)
	return f.err
}

func (f *fakeDispatcher) AssistantThreadContextChanged(_ context.Context, t slackbot.AssistantThread) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contexts = append(f.contexts, t)
	return f.err
}

func (f *fakeDispatcher) AgentSessionStopped(_ context.Context, s slackbot.SessionStop) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, s)
	return f.err
}

func (f *fakeDispatcher) Action(_ context.Context, a slackbot.Action) error {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.err
}

func (f *fakeDispatcher) ViewSubmission(_ context.Context, v slackbot.ViewSubmission) map[string]string {
	f.wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.views = append(f.views, v)
	return f.viewErrors
}

// calls counts every call the dispatcher received.
func (f *fakeDispatcher) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.commands) + len(f.messages) + len(f.threads) + len(f.contexts) + len(f.stops) + len(f.actions) + len(f.views)
}

func (f *fakeDispatcher) gotMessages() []slackbot.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackbot.Message(nil), f.messages...)
}

// recordingMetrics records what the handler reports.
type recordingMetrics struct {
	mu          sync.Mutex
	acks        []string // "route status"
	retries     []string // "num reason"
	rateLimited int
	byHand      []string // event types
	dropped     []string // "type reason"
}

func (m *recordingMetrics) EventDecodedByHand(eventType string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byHand = append(m.byHand, eventType)
}

func (m *recordingMetrics) EventDropped(eventType, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropped = append(m.dropped, eventType+" "+reason)
}

func (m *recordingMetrics) ObserveAck(route string, _ time.Duration, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acks = append(m.acks, route+" "+strconv.Itoa(status))
}

func (m *recordingMetrics) EventRetried(num int, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries = append(m.retries, strconv.Itoa(num)+" "+reason)
}

func (m *recordingMetrics) AppRateLimited() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rateLimited++
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testVerifier() Verifier {
	return Verifier{Secret: testSecret, Logger: discardLogger()}
}

// newTestRouter wires a Handler around d the way main does.
func newTestRouter(d Dispatcher, m Metrics) *mux.Router {
	h := New(d,
		WithBotUserID(testBotUser),
		WithBotID(testBotID),
		WithSlashCommand("/agent"),
		WithAckTimeout(time.Second),
		WithLogger(discardLogger()),
		WithMetrics(m),
	)
	r := mux.NewRouter()
	h.Routes(r, testVerifier())
	return r
}

// signedRequest builds a POST Slack would send, signed at testNow.
func signedRequest(path, contentType string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerSignature, Sign(testSecret, ts, body))
	return req
}

func eventRequest(body string) *http.Request {
	return signedRequest("/slack/events", "application/json", []byte(body))
}

func formRequest(path string, form url.Values) *http.Request {
	return signedRequest(path, "application/x-www-form-urlencoded", []byte(form.Encode()))
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
