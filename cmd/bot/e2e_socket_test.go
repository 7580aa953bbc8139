package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
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
	fields := map[string]string{"is_enterprise_install": "false"}
	for k, v := range e.SlashForm(user, channel, text) {
		fields[k] = v[0]
	}
	p, _ := json.Marshal(fields)
	return socketfake.Envelope{Type: "slash_commands", Payload: p, AcceptsResponsePayload: true}
}

// eventEnvelope is an Events API envelope, the same body Slack posts over HTTP.
func (e *socketEnv) eventEnvelope(eventID string, event map[string]any) socketfake.Envelope {
	p, _ := json.Marshal(e.EventEnvelope(eventID, event))
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
		if code, _, _ := e.Post(path, "application/json", []byte(`{}`), nil); code != http.StatusNotFound {
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
		root = bottest.LastRoot(f, chGeneral)
		return root != "" && e.ThreadDone(chGeneral, root)
	})
	if err != nil || !strings.Contains(bottest.AnswerText(e.Slack, chGeneral, root), "Hello over the socket.") {
		t.Fatalf("no answer (%v):\n%s", err, e.Slack.Transcript(chGeneral))
	}

	// A mention: Slack sends app_mention and message (two envelopes) and
	// redelivers the first; one run answers.
	ev := e.UserSays(userBen, chGeneral, "channel", "<@"+e.Slack.BotUserID()+"> status?", "")
	mention := e.eventEnvelope("Ev-sock-1", bottest.AsMention(ev))
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
		card, ok = firstWithButtons(e.Slack, chGeneral)
		return ok
	})
	if err != nil {
		t.Fatalf("no card:\n%s", e.Slack.Transcript(chGeneral))
	}
	click, _ := json.Marshal(e.ClickPayload(userAnna, chGeneral, card.TS, card.ThreadTS, "button", "approval:approve", bottest.ButtonValue(card.Blocks, "approval:approve")))
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
	b := startEnv(t, envSetup{runtime: a.Runtime, slack: a.Slack, quiet: true, configure: func(c *Config) { *c = cfg }})
	err := a.Socket.WaitFor(a.ctx(), func(f *socketfake.Server) bool {
		return f.Connections() == 2 && a.svc.socket.Status().Connected() && b.svc.socket.Status().Connected()
	})
	if err != nil {
		t.Fatal(err)
	}

	ev := a.UserSays(userBen, chGeneral, "channel", "<@"+a.Slack.BotUserID()+"> which replica?", "")
	mention := a.eventEnvelope("Ev-rep-1", bottest.AsMention(ev))
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
	if got := len(bottest.BotReplies(a.Slack, chGeneral, ev["ts"].(string))); got != 1 {
		t.Fatalf("%d replies, want 1\n%s", got, a.Slack.Transcript(chGeneral))
	}
	a.noViolations()
}
