package slackhandler

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/deepagents-slack/slackbot"
)

// Whatever the dispatcher does, Slack gets an answer. The dispatcher here
// never returns until the test ends and ignores its context; the test only
// checks that each request is answered, not how fast.
func TestEveryRouteAcksWhenDispatcherHangs(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	d := &fakeDispatcher{block: block}
	h := New(d, WithBotUserID(testBotUser), WithAckTimeout(20*time.Millisecond), WithLogger(discardLogger()))
	r := mux.NewRouter()
	h.Routes(r, testVerifier())

	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"slash command acks empty", formRequest("/slack/commands", slashForm("hi")), http.StatusOK},
		{"message asks Slack to retry", eventRequest(callback(`{"type":"message","user":"U1","text":"hi","ts":"1.0","channel":"D1","channel_type":"im"}`)), http.StatusServiceUnavailable},
		{"assistant thread asks Slack to retry", eventRequest(callback(`{"type":"assistant_thread_started","assistant_thread":{"user_id":"U1","context":{},"channel_id":"D1","thread_ts":"1.0"}}`)), http.StatusServiceUnavailable},
		{"click acks", interactionRequest(blockActionsPayload), http.StatusOK},
		{"view submission closes", interactionRequest(viewSubmissionPayload), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(r, tt.req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

// ctxDispatcher reports what context the dispatcher is given.
type ctxDispatcher struct {
	fakeDispatcher
	hadDeadline bool
	value       any
}

type ctxKey struct{}

func (c *ctxDispatcher) Command(ctx context.Context, cmd slackbot.Command) slackbot.Reply {
	_, c.hadDeadline = ctx.Deadline()
	c.value = ctx.Value(ctxKey{})
	return slackbot.Reply{}
}

func TestDispatcherContextIsBoundedAndKeepsValues(t *testing.T) {
	d := &ctxDispatcher{}
	r := newTestRouter(d, nil)
	req := formRequest("/slack/commands", slashForm("hi"))
	req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, "request-id"))
	if rec := serve(r, req); rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if !d.hadDeadline || d.value != "request-id" {
		t.Errorf("deadline %v, value %v; want a deadline and the request's values", d.hadDeadline, d.value)
	}
}

func TestRoutesRejectBeforeDispatching(t *testing.T) {
	tests := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"unsigned command", func() *http.Request {
			req := formRequest("/slack/commands", slashForm("hi"))
			req.Header.Del(headerSignature)
			return req
		}, http.StatusUnauthorized},
		{"stale event", func() *http.Request {
			body := []byte(callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.0","channel":"C1"}`))
			req := signedRequest("/slack/events", "application/json", body)
			old := strconv.FormatInt(testNow.Add(-6*time.Minute).Unix(), 10)
			req.Header.Set(headerTimestamp, old)
			req.Header.Set(headerSignature, Sign(testSecret, old, body))
			return req
		}, http.StatusUnauthorized},
		{"forged interaction", func() *http.Request {
			req := interactionRequest(blockActionsPayload)
			req.Header.Set(headerSignature, Sign("guess", req.Header.Get(headerTimestamp), []byte("payload=x")))
			return req
		}, http.StatusUnauthorized},
		{"GET on events", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/slack/events", nil)
		}, http.StatusMethodNotAllowed},
		{"oversized event", func() *http.Request {
			return eventRequest(`{"type":"event_callback","pad":"` + string(bytes.Repeat([]byte("a"), DefaultMaxBody)) + `"}`)
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, m := &fakeDispatcher{}, &recordingMetrics{}
			rec := serve(newTestRouter(d, m), tt.req())
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
			if d.calls() != 0 {
				t.Errorf("dispatcher called")
			}
			if len(m.acks) != 1 || m.acks[0][len(m.acks[0])-3:] != strconv.Itoa(tt.want) {
				t.Errorf("ack metrics = %v, want one with status %d", m.acks, tt.want)
			}
		})
	}
}

// The whole edge over a real HTTP connection, as Slack would reach it.
func TestOverRealHTTP(t *testing.T) {
	d := &fakeDispatcher{reply: slackbot.Reply{Text: "On it"}}
	m := &recordingMetrics{}
	srv := httptest.NewServer(newTestRouter(d, m))
	t.Cleanup(srv.Close)

	send := func(req *http.Request) (int, string) {
		t.Helper()
		u, _ := url.Parse(srv.URL + req.URL.Path)
		req.URL, req.RequestURI, req.Host = u, "", u.Host
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp.Body)
	}
	if code, body := send(formRequest("/slack/commands", slashForm("go"))); code != 200 || !jsonEqual(body, `{"response_type":"ephemeral","text":"On it"}`) {
		t.Errorf("command: %d %q", code, body)
	}
	if code, body := send(eventRequest(`{"type":"url_verification","challenge":"c1"}`)); code != 200 || body != "c1" {
		t.Errorf("url_verification: %d %q", code, body)
	}
	if code, _ := send(eventRequest(callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.0","channel":"C1"}`))); code != 200 {
		t.Errorf("app_mention: %d", code)
	}
	if want := []string{"commands 200", "events 200", "events 200"}; !reflect.DeepEqual(m.acks, want) {
		t.Errorf("ack metrics = %v, want %v", m.acks, want)
	}
	if len(d.commands) != 1 || len(d.gotMessages()) != 1 {
		t.Errorf("dispatched %d commands, %d messages", len(d.commands), len(d.gotMessages()))
	}
}

func TestDefaults(t *testing.T) {
	var h Handler
	if h.ackTimeout() != DefaultAckTimeout || h.logger() == nil {
		t.Errorf("zero Handler defaults: %v", h.ackTimeout())
	}
	var v Verifier
	if v.maxBody() != DefaultMaxBody || v.logger() == nil {
		t.Errorf("zero Verifier defaults: %v", v.maxBody())
	}
}

type noopDispatcher struct{}

func (noopDispatcher) Command(context.Context, slackbot.Command) slackbot.Reply {
	return slackbot.Reply{}
}
func (noopDispatcher) Message(context.Context, slackbot.Message) error { return nil }
func (noopDispatcher) AssistantThreadStarted(context.Context, slackbot.AssistantThread) error {
	return nil
}
func (noopDispatcher) AssistantThreadContextChanged(context.Context, slackbot.AssistantThread) error {
	return nil
}
func (noopDispatcher) AgentSessionStopped(context.Context, slackbot.SessionStop) error { return nil }
func (noopDispatcher) Action(context.Context, slackbot.Action) error                   { return nil }
func (noopDispatcher) ViewSubmission(context.Context, slackbot.ViewSubmission) map[string]string {
	return nil
}

func benchmarkAck(b *testing.B, path, contentType string, body []byte) {
	r := newTestRouter(noopDispatcher{}, nil)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	sig := Sign(testSecret, ts, body)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set(headerTimestamp, ts)
		req.Header.Set(headerSignature, sig)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkSlashCommandAck(b *testing.B) {
	benchmarkAck(b, "/slack/commands", "application/x-www-form-urlencoded", []byte(slashForm("summarize the incident").Encode()))
}

func BenchmarkEventAck(b *testing.B) {
	body := callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> summarize <#C9|news>","ts":"1.000100","channel":"C1","event_ts":"1.000100"}`)
	benchmarkAck(b, "/slack/events", "application/json", []byte(body))
}
