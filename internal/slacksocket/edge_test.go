package slacksocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/slackhandler"
	"github.com/deepagents-slack/slackbot/internal/slacksocket"
	"github.com/deepagents-slack/slackbot/internal/slacksocket/socketfake"
)

const appToken = "xapp-1-A1-test"

// recorder is a Dispatcher that records like the relay does: a message is
// accepted once per (channel, ts), whatever the delivery.
type recorder struct {
	mu       sync.Mutex
	seen     map[string]bool
	runs     int
	commands []slackbot.Command
	actions  []slackbot.Action
	fail     error // returned by Message while set
}

func newRecorder() *recorder { return &recorder{seen: map[string]bool{}} }

func (r *recorder) Command(_ context.Context, c slackbot.Command) slackbot.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, c)
	if c.Text == "help" {
		return slackbot.Reply{Text: "how to use /agent"}
	}
	return slackbot.Reply{}
}

func (r *recorder) Message(_ context.Context, m slackbot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if key := m.ChannelID + "/" + m.TS; !r.seen[key] {
		r.seen[key] = true
		r.runs++
	}
	return nil
}

func (r *recorder) AssistantThreadStarted(context.Context, slackbot.AssistantThread) error {
	return nil
}

func (r *recorder) AssistantThreadContextChanged(context.Context, slackbot.AssistantThread) error {
	return nil
}

func (r *recorder) AgentSessionStopped(context.Context, slackbot.SessionStop) error { return nil }

func (r *recorder) Action(_ context.Context, a slackbot.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, a)
	return nil
}

func (r *recorder) ViewSubmission(context.Context, slackbot.ViewSubmission) map[string]string {
	return nil
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *recorder) counts() (runs, commands, actions int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs, len(r.commands), len(r.actions)
}

// startEdge runs an Edge against fake with token and returns it.
func startEdge(t *testing.T, fake *socketfake.Server, token string, d slackhandler.Dispatcher) *slacksocket.Edge {
	t.Helper()
	api := slack.New("xoxb-test", slack.OptionAppLevelToken(token), slack.OptionAPIURL(fake.APIURL()))
	h := slackhandler.New(d, slackhandler.WithBotUserID("UBOT"), slackhandler.WithSlashCommand("/agent"),
		slackhandler.WithAckTimeout(500*time.Millisecond), slackhandler.WithLogger(slog.New(slog.DiscardHandler)))
	edge, err := slacksocket.New(api, h, slacksocket.WithMaxBackoff(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- edge.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if st := edge.Status(); st.State != slacksocket.StateStopped {
			t.Errorf("state after Run = %s", st.State)
		}
	})
	return edge
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitConnected(t *testing.T, ctx context.Context, fake *socketfake.Server, edge *slacksocket.Edge, connects int) {
	t.Helper()
	err := fake.WaitFor(ctx, func(f *socketfake.Server) bool {
		st := edge.Status()
		return f.Connections() == 1 && st.Connected() && st.Connects >= connects
	})
	if err != nil {
		t.Fatalf("not connected: %v (status %+v)", err, edge.Status())
	}
}

func mention(ts string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "Ev" + ts,
		"event": map[string]any{"type": "app_mention", "user": "U1", "text": "<@UBOT> hello", "ts": ts, "channel": "C1", "event_ts": ts},
	})
	return b
}

func slash(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"token": "x", "team_id": "T1", "team_domain": "t", "channel_id": "C1", "channel_name": "general",
		"user_id": "U1", "user_name": "u", "command": "/agent", "text": text,
		"api_app_id": "A1", "is_enterprise_install": "false",
		"response_url": "https://hooks.slack.com/commands/T1/1/x", "trigger_id": "1.2.3",
	})
	return b
}

func noViolations(t *testing.T, fake *socketfake.Server) {
	t.Helper()
	if v := fake.Violations(); len(v) > 0 {
		t.Fatalf("protocol violations: %v", v)
	}
}

// Envelopes of every kind are dispatched and acked; a slash command's
// reply rides in the ack; the same envelope delivered twice starts one run.
func TestEdgeDispatchesAndAcks(t *testing.T) {
	fake := socketfake.New(appToken, socketfake.WithPingInterval(100*time.Millisecond))
	defer fake.Close()
	rec := newRecorder()
	edge := startEdge(t, fake, appToken, rec)
	ctx := testCtx(t)
	waitConnected(t, ctx, fake, edge, 1)

	ack, err := fake.Send(ctx, socketfake.Envelope{Type: "slash_commands", Payload: slash("help"), AcceptsResponsePayload: true})
	if err != nil {
		t.Fatal(err)
	}
	var reply struct{ ResponseType, Text string }
	if err := json.Unmarshal(ack.Payload, &reply); err != nil || reply.Text != "how to use /agent" {
		t.Fatalf("slash command ack payload = %s (%v)", ack.Payload, err)
	}
	if ack, err := fake.Send(ctx, socketfake.Envelope{Type: "slash_commands", Payload: slash("write a haiku"), AcceptsResponsePayload: true}); err != nil || len(ack.Payload) != 0 {
		t.Fatalf("prompt ack = %s, %v; want an empty ack", ack.Payload, err)
	}

	env := socketfake.Envelope{ID: "env-mention-1", Type: "events_api", Payload: mention("1.000100")}
	if _, err := fake.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	env.RetryAttempt, env.RetryReason = 1, "timeout"
	if _, err := fake.Send(ctx, env); err != nil {
		t.Fatal(err)
	}

	click, _ := json.Marshal(map[string]any{
		"type": "block_actions", "team": map[string]any{"id": "T1"}, "user": map[string]any{"id": "U1"},
		"container": map[string]any{"type": "message", "channel_id": "C1", "message_ts": "2.2", "thread_ts": "1.1"},
		"actions":   []map[string]any{{"type": "button", "action_id": "approval:approve", "block_id": "b", "value": "card"}},
	})
	if _, err := fake.Send(ctx, socketfake.Envelope{Type: "interactive", Payload: click, AcceptsResponsePayload: true}); err != nil {
		t.Fatal(err)
	}
	// An event type slack-go cannot parse is still acked (never redelivered).
	unknown := json.RawMessage(`{"type":"event_callback","team_id":"T1","event_id":"EvX","event":{"type":"brand_new_event_type"}}`)
	if _, err := fake.Send(ctx, socketfake.Envelope{Type: "events_api", Payload: unknown}); err != nil {
		t.Fatalf("unknown event type: %v", err)
	}

	runs, commands, actions := rec.counts()
	if runs != 1 || commands != 2 || actions != 1 {
		t.Fatalf("runs=%d commands=%d actions=%d; want 1, 2, 1", runs, commands, actions)
	}
	if n := len(fake.Acks()); n != 6 {
		t.Fatalf("%d acks, want 6", n)
	}
	noViolations(t, fake)
}

// Work that was not recorded is not acked, so Slack delivers it again.
func TestEdgeLeavesUnrecordedWorkUnacked(t *testing.T) {
	fake := socketfake.New(appToken, socketfake.WithPingInterval(100*time.Millisecond))
	defer fake.Close()
	rec := newRecorder()
	edge := startEdge(t, fake, appToken, rec)
	ctx := testCtx(t)
	waitConnected(t, ctx, fake, edge, 1)

	rec.setFail(errors.New("store unreachable"))
	env := socketfake.Envelope{ID: "env-1", Type: "events_api", Payload: mention("3.000300")}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := fake.Send(short, env)
	cancel()
	if !errors.Is(err, socketfake.ErrNotAcked) {
		t.Fatalf("send while the store is down: %v, want ErrNotAcked", err)
	}
	rec.setFail(nil)
	env.RetryAttempt, env.RetryReason = 1, "timeout"
	if _, err := fake.Send(ctx, env); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if runs, _, _ := rec.counts(); runs != 1 {
		t.Fatalf("runs = %d, want 1", runs)
	}
	noViolations(t, fake)
}

// The edge reconnects when the connection drops and when Slack asks it to,
// and keeps working.
func TestEdgeReconnects(t *testing.T) {
	fake := socketfake.New(appToken, socketfake.WithPingInterval(100*time.Millisecond))
	defer fake.Close()
	rec := newRecorder()
	edge := startEdge(t, fake, appToken, rec)
	ctx := testCtx(t)
	waitConnected(t, ctx, fake, edge, 1)

	fake.Drop()
	waitConnected(t, ctx, fake, edge, 2)
	if _, err := fake.Send(ctx, socketfake.Envelope{Type: "events_api", Payload: mention("4.000400")}); err != nil {
		t.Fatalf("after a dropped connection: %v", err)
	}

	fake.Disconnect("refresh_requested")
	err := fake.WaitFor(ctx, func(f *socketfake.Server) bool {
		return f.Opens() >= 3 && f.Connections() == 1 && edge.Status().Connects >= 3
	})
	if err != nil {
		t.Fatalf("no reconnect after a disconnect request: %v", err)
	}
	if _, err := fake.Send(ctx, socketfake.Envelope{Type: "events_api", Payload: mention("5.000500")}); err != nil {
		t.Fatalf("after a refresh: %v", err)
	}
	if runs, _, _ := rec.counts(); runs != 2 {
		t.Fatalf("runs = %d, want 2", runs)
	}
	noViolations(t, fake)
}

// A refused app token shows in the status, and the edge keeps trying.
func TestEdgeInvalidToken(t *testing.T) {
	fake := socketfake.New(appToken)
	defer fake.Close()
	edge := startEdge(t, fake, "xapp-1-A1-wrong", newRecorder())
	ctx := testCtx(t)
	err := fake.WaitFor(ctx, func(*socketfake.Server) bool {
		st := edge.Status()
		return st.State == slacksocket.StateInvalidAuth && st.LastError == "invalid_auth"
	})
	if err != nil {
		t.Fatalf("status %+v: %v", edge.Status(), err)
	}
	if fake.Connections() != 0 || fake.Opens() != 0 {
		t.Fatalf("connections %d, opens %d with a wrong token", fake.Connections(), fake.Opens())
	}
}

// Two replicas each hold a connection; Slack spreads envelopes across
// them, and the store's dedupe keeps one run per message.
func TestEdgeTwoReplicas(t *testing.T) {
	fake := socketfake.New(appToken, socketfake.WithPingInterval(100*time.Millisecond))
	defer fake.Close()
	rec := newRecorder() // the shared store
	a := startEdge(t, fake, appToken, rec)
	b := startEdge(t, fake, appToken, rec)
	ctx := testCtx(t)
	if err := fake.WaitFor(ctx, func(f *socketfake.Server) bool {
		return f.Connections() == 2 && a.Status().Connected() && b.Status().Connected()
	}); err != nil {
		t.Fatal(err)
	}
	conns := map[int]bool{}
	for i := 0; i < 4; i++ {
		ack, err := fake.Send(ctx, socketfake.Envelope{Type: "events_api", Payload: mention("6.000600")})
		if err != nil {
			t.Fatal(err)
		}
		conns[ack.Conn] = true
	}
	if len(conns) != 2 {
		t.Fatalf("acks came on %d connections, want 2", len(conns))
	}
	if runs, _, _ := rec.counts(); runs != 1 {
		t.Fatalf("runs = %d, want 1", runs)
	}
	noViolations(t, fake)
}

// While Slack cannot open a connection the edge retries with backoff,
// reports why, and connects once Slack recovers.
func TestEdgeRetriesOpeningWithBackoff(t *testing.T) {
	fake := socketfake.New(appToken, socketfake.WithPingInterval(100*time.Millisecond))
	defer fake.Close()
	fake.FailOpens("internal_error", "internal_error", "internal_error")
	edge := startEdge(t, fake, appToken, newRecorder())
	ctx := testCtx(t)
	sawError := false
	err := fake.WaitFor(ctx, func(f *socketfake.Server) bool {
		if st := edge.Status(); !st.Connected() && st.LastError == "internal_error" {
			sawError = true
		}
		return f.RefusedOpens() == 3 && edge.Status().Connected()
	})
	if err != nil || !sawError {
		t.Fatalf("status %+v, saw the error: %v (%v)", edge.Status(), sawError, err)
	}
	if _, err := fake.Send(ctx, socketfake.Envelope{Type: "events_api", Payload: mention("7.000700")}); err != nil {
		t.Fatal(err)
	}
}
