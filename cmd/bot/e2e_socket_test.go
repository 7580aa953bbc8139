package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/slacksocket/socketfake"
)

const simAppToken = "xapp-1-ASIM-test"

// socketEnv is the whole service in Socket Mode: Slack's requests come
// over the fake socket, its Web API is the usual fake.
type socketEnv struct {
	*testEnv
	Socket *socketfake.Server
}

func newSocketEnv(t *testing.T, script agentstest.Script, appToken string) *socketEnv {
	t.Helper()
	sock := socketfake.New(simAppToken, socketfake.WithPingInterval(200*time.Millisecond))
	t.Cleanup(sock.Close)
	e := newTestEnv(t, script, func(c *Config) {
		c.AppToken = appToken
		c.socketAPIURL = sock.APIURL()
	}, nil)
	return &socketEnv{testEnv: e, Socket: sock}
}

func (e *socketEnv) waitConnected(connects int) {
	e.t.Helper()
	err := e.Socket.WaitFor(e.ctx(), func(f *socketfake.Server) bool {
		st := e.svc.socket.Status()
		return f.Connections() == 1 && st.Connected() && st.Connects >= connects
	})
	if err != nil {
		e.t.Fatalf("socket not connected: %v (%+v)", err, e.svc.socket.Status())
	}
}

// send delivers an envelope and requires its ack.
func (e *socketEnv) send(env socketfake.Envelope) socketfake.Ack {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := e.Socket.Send(ctx, env)
	if err != nil {
		e.t.Fatalf("envelope %s: %v", env.Type, err)
	}
	return ack
}

// slashEnvelope is "/agent <text>" as Socket Mode delivers it: the
// command's form fields as a JSON object.
func (e *socketEnv) slashEnvelope(user, channel, text string) socketfake.Envelope {
	id := e.nextID()
	p, _ := json.Marshal(map[string]string{
		"token": "unused", "team_id": simTeam, "team_domain": "sim", "channel_id": channel, "channel_name": "channel",
		"user_id": user, "user_name": user, "command": e.Config.SlashCommand, "text": text,
		"api_app_id": "ASIM", "is_enterprise_install": "false",
		"response_url": e.Slack.ResponseURLFor(fmt.Sprintf("cmd-%d", id), channel, user),
		"trigger_id":   fmt.Sprintf("%d.trigger", id),
	})
	return socketfake.Envelope{Type: "slash_commands", Payload: p, AcceptsResponsePayload: true}
}

// eventEnvelope is an Events API envelope, the same body Slack posts over HTTP.
func (e *socketEnv) eventEnvelope(eventID string, event map[string]any) socketfake.Envelope {
	p, _ := json.Marshal(map[string]any{
		"token": "unused", "team_id": simTeam, "api_app_id": "ASIM", "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(), "event": event,
		"authorizations": []map[string]any{{"team_id": simTeam, "user_id": e.Slack.BotUserID(), "is_bot": true}},
	})
	return socketfake.Envelope{Type: "events_api", Payload: p}
}

func (e *socketEnv) noViolations() {
	e.t.Helper()
	if v := e.Socket.Violations(); len(v) > 0 {
		e.t.Fatalf("socket protocol violations: %v", v)
	}
}

// TestSocketMode: slash commands, events and clicks arrive over the
// socket and get the same treatment as over HTTP; the HTTP routes for
// Slack and the completion webhook are not offered.
func TestSocketMode(t *testing.T) {
	e := newSocketEnv(t, agentstest.Scripted(agentstest.Text("Hello ", "over the socket.")), simAppToken)
	e.waitConnected(1)

	code, body := httpGet(t, e.URL+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, "socket: connected") {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	if code, body := httpGet(t, e.URL+"/healthz"); code != http.StatusOK || !strings.Contains(body, "socket: connected") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	for _, path := range []string{"/slack/commands", "/slack/events", "/slack/interactions", "/agents/webhook/x"} {
		if code, _, _ := e.post(path, "application/json", []byte(`{}`), nil); code != http.StatusNotFound {
			t.Errorf("POST %s = %d in Socket Mode, want 404", path, code)
		}
	}

	// The help text rides in the ack, like the HTTP ack's body.
	ack := e.send(e.slashEnvelope(userAnna, chGeneral, "help"))
	var reply struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(ack.Payload, &reply); err != nil || reply.ResponseType != "ephemeral" || !strings.Contains(reply.Text, "How to use /agent") {
		t.Fatalf("help ack payload = %s", ack.Payload)
	}

	// A prompt: empty ack, root message, answer in its thread.
	if ack := e.send(e.slashEnvelope(userAnna, chGeneral, "say hello")); len(ack.Payload) != 0 {
		t.Fatalf("prompt ack payload = %s, want empty", ack.Payload)
	}
	var root string
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		root = lastRoot(f, chGeneral)
		return root != "" && e.ThreadDone(chGeneral, root)
	})
	if err != nil || !strings.Contains(answerText(e.Slack, chGeneral, root), "Hello over the socket.") {
		t.Fatalf("no answer (%v):\n%s", err, e.Slack.Transcript(chGeneral))
	}

	// A mention: Slack sends app_mention and message (two envelopes) and
	// redelivers the first; one run answers.
	ev := e.UserSays(userBen, chGeneral, "channel", "<@"+e.Slack.BotUserID()+"> status?", "")
	mention := e.eventEnvelope("Ev-sock-1", AsMention(ev))
	e.send(mention)
	mention.RetryAttempt, mention.RetryReason = 1, "timeout"
	e.send(mention)
	e.send(e.eventEnvelope("Ev-sock-2", ev))
	e.waitReplies(chGeneral, ev["ts"].(string), 1)
	if n := e.Runtime.RunsStarted(); n != 2 {
		t.Fatalf("%d runs started, want 2 (the command and the mention)", n)
	}

	// The bot cannot post in a channel: the user is told through the
	// command's response_url, as over HTTP.
	e.Slack.NotInChannel(chOther)
	e.send(e.slashEnvelope(userAnna, chOther, "hello"))
	if err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool { return len(f.Ephemerals()) > 0 }); err != nil {
		t.Fatal(err)
	}
	if eph := e.Slack.Ephemerals()[0]; eph.User != userAnna || !strings.Contains(eph.Text, "/invite") {
		t.Fatalf("ephemeral = %+v", eph)
	}
	e.noViolations()
}

// TestSocketModeApprovalClick: an approval card's button arrives as an
// interactive envelope and resumes the run once.
func TestSocketModeApprovalClick(t *testing.T) {
	e := newSocketEnv(t, agentstest.Scripted(agentstest.MemoryWrite("/memories/prefs.md", "short notes"), agentstest.Text("Noted.")), simAppToken)
	e.waitConnected(1)
	e.send(e.slashEnvelope(userAnna, chGeneral, "remember: short notes"))
	var card slackfake.Message
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		var ok bool
		card, ok = e.findButtons(chGeneral)
		return ok
	})
	if err != nil {
		t.Fatalf("no card:\n%s", e.Slack.Transcript(chGeneral))
	}
	click, _ := json.Marshal(map[string]any{
		"type": "block_actions", "team": map[string]any{"id": simTeam}, "user": map[string]any{"id": userAnna, "name": "anna"},
		"channel":    map[string]any{"id": chGeneral},
		"container":  map[string]any{"type": "message", "channel_id": chGeneral, "message_ts": card.TS, "thread_ts": card.ThreadTS},
		"trigger_id": "1.trigger",
		"actions":    []map[string]any{{"type": "button", "action_id": "approval:approve", "block_id": "b", "value": cardValue(e.sim, card), "action_ts": "1"}},
	})
	env := socketfake.Envelope{Type: "interactive", Payload: click, AcceptsResponsePayload: true}
	e.send(env)
	e.send(env) // a double click
	e.waitReplies(chGeneral, card.ThreadTS, 2)
	if n := e.Runtime.RunsStarted(); n != 2 {
		t.Fatalf("%d runs started, want the run and one resume", n)
	}
	e.noViolations()
}

// TestSocketModeReconnects: a dropped connection and Slack's refresh
// request both lead to a new connection that keeps delivering.
func TestSocketModeReconnects(t *testing.T) {
	e := newSocketEnv(t, agentstest.Echo(), simAppToken)
	e.waitConnected(1)

	e.Socket.Drop()
	e.waitConnected(2)
	ev := e.UserSays(userAnna, "DANNA00001", "im", "after the drop", "")
	e.send(e.eventEnvelope("Ev-after-drop", ev))
	e.waitReplies("DANNA00001", ev["ts"].(string), 1)

	e.Socket.Disconnect("refresh_requested")
	if err := e.Socket.WaitFor(e.ctx(), func(f *socketfake.Server) bool {
		return f.Opens() >= 3 && f.Connections() == 1 && e.svc.socket.Status().Connects >= 3
	}); err != nil {
		t.Fatal(err)
	}
	ev = e.UserSays(userAnna, "DANNA00001", "im", "after the refresh", "")
	e.send(e.eventEnvelope("Ev-after-refresh", ev))
	e.waitReplies("DANNA00001", ev["ts"].(string), 1)
	if n := e.Runtime.RunsStarted(); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
	e.noViolations()
}

// TestSocketModeNotReady: while Slack refuses the app token the replica
// is not ready, and says why.
func TestSocketModeNotReady(t *testing.T) {
	e := newSocketEnv(t, agentstest.Echo(), "xapp-1-ASIM-revoked")
	err := e.Socket.WaitFor(e.ctx(), func(*socketfake.Server) bool {
		code, body := httpGet(t, e.URL+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "invalid_auth")
	})
	if err != nil {
		code, body := httpGet(t, e.URL+"/readyz")
		t.Fatalf("/readyz = %d %q", code, body)
	}
	if code, body := httpGet(t, e.URL+"/healthz"); code != http.StatusOK || !strings.Contains(body, "socket: invalid_auth") {
		t.Fatalf("/healthz = %d %q; liveness must not fail on the socket", code, body)
	}
}

// TestSocketModeReplicas: two replicas share one store and each holds a
// connection; Slack spreads a mention's envelopes (app_mention, its
// message twin, a redelivery) across them and one run answers.
func TestSocketModeReplicas(t *testing.T) {
	a := newSocketEnv(t, agentstest.Scripted(agentstest.Text("one answer")), simAppToken)
	cfg := a.Config
	cfg.ReplicaName = "sim-b"
	log := slog.New(slog.DiscardHandler)
	b, err := newService(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replica b: %v", err)
		}
		b.store.Close()
	})
	err = a.Socket.WaitFor(a.ctx(), func(f *socketfake.Server) bool {
		return f.Connections() == 2 && a.svc.socket.Status().Connected() && b.socket.Status().Connected()
	})
	if err != nil {
		t.Fatal(err)
	}

	ev := a.UserSays(userBen, chGeneral, "channel", "<@"+a.Slack.BotUserID()+"> which replica?", "")
	mention := a.eventEnvelope("Ev-rep-1", AsMention(ev))
	conns := map[int]bool{}
	for _, env := range []socketfake.Envelope{mention, a.eventEnvelope("Ev-rep-2", ev), mention} {
		conns[a.send(env).Conn] = true
	}
	if len(conns) != 2 {
		t.Fatalf("envelopes went to %d connections, want both", len(conns))
	}
	a.waitReplies(chGeneral, ev["ts"].(string), 1)
	if n := a.Runtime.RunsStarted(); n != 1 {
		t.Fatalf("%d runs started, want 1", n)
	}
	if got := len(botReplies(a.Slack, chGeneral, ev["ts"].(string))); got != 1 {
		t.Fatalf("%d replies, want 1\n%s", got, a.Slack.Transcript(chGeneral))
	}
	a.noViolations()
}
