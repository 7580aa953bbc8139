// Package socketfake is an in-process fake of Slack's Socket Mode for tests
// and demos: the apps.connections.open Web API method and the WebSocket it
// hands out, which carries envelopes (events_api, slash_commands,
// interactive) with an envelope_id and takes the app's acks. Tests push
// envelopes, read the acks, redeliver, and cut connections to force
// reconnects. Point slack-go's socketmode client at it:
//
//	fake := socketfake.New("xapp-test")
//	defer fake.Close()
//	api := slack.New("xoxb-test", slack.OptionAppLevelToken("xapp-test"), slack.OptionAPIURL(fake.APIURL()))
//
// The fake refuses what Slack refuses (each rule cites its source) and
// records protocol mistakes of the app in Violations.
package socketfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

const (
	// Slack: at most 10 simultaneous Socket Mode connections per app
	// (docs.slack.dev/apis/events-api/using-socket-mode).
	maxConnections = 10
	// Slack silently drops Socket Mode responses of 20 KB or more
	// (slack-go socketmode maxResponseSize, verified against Slack).
	maxAckSize = 20 * 1024
)

// Errors of Send.
var (
	ErrNoConnection = errors.New("socketfake: no open connection")
	ErrNotAcked     = errors.New("socketfake: envelope not acknowledged in time")
)

// Envelope is one message Slack pushes to the app.
type Envelope struct {
	ID      string // envelope_id; generated when empty
	Type    string // events_api, slash_commands or interactive
	Payload json.RawMessage
	// AcceptsResponsePayload: the ack may carry a payload (Slack sets it for
	// slash commands and interactions).
	AcceptsResponsePayload bool
	RetryAttempt           int
	RetryReason            string
}

// Ack is the app's answer to an envelope.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage
	Conn       int // which connection it came on
}

// Server is a fake Socket Mode endpoint. Safe for concurrent use.
type Server struct {
	appToken string
	http     *httptest.Server
	upgrader websocket.Upgrader
	ping     time.Duration

	mu         sync.Mutex
	changed    chan struct{}
	tickets    map[string]bool
	opens      int
	failOpens  []string // errors the next apps.connections.open calls answer
	refused    int
	seq        int
	conns      map[int]*conn
	next       int // round robin over connections
	pending    map[string]*pending
	acks       []Ack
	violations []string
}

type conn struct {
	id int
	ws *websocket.Conn
	mu sync.Mutex // gorilla/websocket allows one writer at a time
}

func (c *conn) write(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

type pending struct {
	env   Envelope
	conn  int
	acked chan Ack // buffered 1
	done  bool
}

// Option configures a Server.
type Option func(*Server)

// WithPingInterval sets how often the server pings each connection
// (default 1s). slack-go reconnects when pings stop for its ping interval.
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.ping = d } }

// New starts a fake that accepts appToken (an xapp- token).
func New(appToken string, opts ...Option) *Server {
	s := &Server{
		appToken: appToken,
		ping:     time.Second,
		changed:  make(chan struct{}),
		tickets:  map[string]bool{},
		conns:    map[int]*conn{},
		pending:  map[string]*pending{},
	}
	for _, o := range opts {
		o(s)
	}
	// slack-go dials with "Origin: https://api.slack.com".
	s.upgrader.CheckOrigin = func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		return o == "" || o == "https://api.slack.com"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/apps.connections.open", s.handleOpen)
	mux.HandleFunc("GET /link/", s.handleLink)
	s.http = httptest.NewServer(mux)
	return s
}

// APIURL is the Web API base URL for slack.OptionAPIURL (ends with "/").
func (s *Server) APIURL() string { return s.http.URL + "/api/" }

// Close drops every connection and stops the server.
func (s *Server) Close() {
	s.Drop()
	s.http.Close()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) violate(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, a...))
	s.notifyLocked()
}

// handleOpen serves apps.connections.open.
func (s *Server) handleOpen(w http.ResponseWriter, r *http.Request) {
	reply := func(fields map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(fields)
	}
	fail := func(code string) { reply(map[string]any{"ok": false, "error": code}) }
	// Slack: POST only (error insecure_request), and the app-level token
	// only in the Authorization header; as a POST parameter it is an error
	// (docs.slack.dev/reference/methods/apps.connections.open).
	if r.Method != http.MethodPost {
		fail("insecure_request")
		return
	}
	_ = r.ParseForm()
	if r.PostForm.Get("token") != "" {
		fail("invalid_auth")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || token == "":
		fail("not_authed")
		return
	case !strings.HasPrefix(token, "xapp-"):
		fail("not_allowed_token_type") // a bot or user token
		return
	case token != s.appToken:
		fail("invalid_auth")
		return
	}
	s.mu.Lock()
	if len(s.failOpens) > 0 {
		code := s.failOpens[0]
		s.failOpens = s.failOpens[1:]
		s.refused++
		s.notifyLocked()
		s.mu.Unlock()
		fail(code)
		return
	}
	s.opens++
	ticket := uuid.NewString()
	s.tickets[ticket] = true
	s.notifyLocked()
	s.mu.Unlock()
	url := "ws" + strings.TrimPrefix(s.http.URL, "http") + "/link/?ticket=" + ticket + "&app_id=AFAKE"
	reply(map[string]any{"ok": true, "url": url})
}

// handleLink upgrades a connection opened with a ticket.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	// Only URLs apps.connections.open generated are valid; each is used
	// for one connection here.
	valid := s.tickets[ticket]
	delete(s.tickets, ticket)
	full := len(s.conns) >= maxConnections
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	if full {
		http.Error(w, "too many connections", http.StatusTooManyRequests)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.seq++
	c := &conn{id: s.seq, ws: ws}
	s.conns[c.id] = c
	n := len(s.conns)
	s.mu.Unlock()

	hello := map[string]any{
		"type":            "hello",
		"num_connections": n,
		"debug_info":      map[string]any{"host": "applink-fake-" + strconv.Itoa(c.id), "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": "AFAKE"},
	}
	if err := c.write(hello); err != nil {
		s.remove(c)
		return
	}
	s.mu.Lock()
	s.notifyLocked() // connected: envelopes may go to it now
	s.mu.Unlock()

	stop := make(chan struct{})
	go s.pinger(c, stop)
	s.read(c)
	close(stop)
	s.remove(c)
}

func (s *Server) pinger(c *conn, stop <-chan struct{}) {
	t := time.NewTicker(s.ping)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.mu.Lock()
			err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// read takes the app's acks until the connection ends.
func (s *Server) read(c *conn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if len(data) >= maxAckSize {
			s.violate("conn %d: ack of %d bytes; Slack drops responses of 20 KB or more", c.id, len(data))
			continue
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			s.violate("conn %d: message that is not an ack: %.200s", c.id, data)
			continue
		}
		s.takeAck(c, Ack{EnvelopeID: ack.EnvelopeID, Payload: ack.Payload, Conn: c.id})
	}
}

func (s *Server) takeAck(c *conn, a Ack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[a.EnvelopeID]
	switch {
	case p == nil:
		s.violations = append(s.violations, fmt.Sprintf("conn %d: ack for unknown envelope %s", c.id, a.EnvelopeID))
	case p.done:
		s.violations = append(s.violations, fmt.Sprintf("conn %d: second ack for envelope %s", c.id, a.EnvelopeID))
	default:
		if len(a.Payload) > 0 && string(a.Payload) != "null" && !p.env.AcceptsResponsePayload {
			s.violations = append(s.violations, fmt.Sprintf("conn %d: ack payload for envelope %s, which accepts none", c.id, a.EnvelopeID))
		}
		p.done = true
		p.acked <- a
		s.acks = append(s.acks, a)
	}
	s.notifyLocked()
}

func (s *Server) remove(c *conn) {
	_ = c.ws.Close()
	s.mu.Lock()
	delete(s.conns, c.id)
	s.notifyLocked()
	s.mu.Unlock()
}

// Send pushes e over one of the open connections (round robin, as Slack
// spreads envelopes across an app's connections) and waits for its ack
// until ctx ends (ErrNotAcked). A redelivery reuses e.ID with a higher
// RetryAttempt, as Slack does.
func (s *Server) Send(ctx context.Context, e Envelope) (Ack, error) {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	s.mu.Lock()
	c := s.pickLocked()
	if c == nil {
		s.mu.Unlock()
		return Ack{}, ErrNoConnection
	}
	p := &pending{env: e, conn: c.id, acked: make(chan Ack, 1)}
	s.pending[e.ID] = p // a redelivery waits for a new ack
	s.mu.Unlock()

	msg := map[string]any{
		"envelope_id":              e.ID,
		"type":                     e.Type,
		"payload":                  e.Payload,
		"accepts_response_payload": e.AcceptsResponsePayload,
	}
	if e.RetryAttempt > 0 {
		msg["retry_attempt"] = e.RetryAttempt
		msg["retry_reason"] = e.RetryReason
	}
	if err := c.write(msg); err != nil {
		return Ack{}, fmt.Errorf("socketfake: write envelope: %w", err)
	}
	select {
	case a := <-p.acked:
		return a, nil
	case <-ctx.Done():
		return Ack{}, ErrNotAcked
	}
}

func (s *Server) pickLocked() *conn {
	if len(s.conns) == 0 {
		return nil
	}
	ids := make([]int, 0, len(s.conns))
	for id := range s.conns {
		ids = append(ids, id)
	}
	sort.Ints(ids) // deterministic order
	s.next++
	return s.conns[ids[s.next%len(ids)]]
}

// Disconnect asks every connection to reconnect, as Slack does when it
// refreshes its connections (reason "refresh_requested" or "warning"), and
// closes them once the app has opened new ones or after a second.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	old := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		old = append(old, c)
	}
	s.mu.Unlock()
	for _, c := range old {
		_ = c.write(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "applink-fake"}})
	}
	go func() {
		time.Sleep(time.Second)
		for _, c := range old {
			_ = c.ws.Close()
		}
	}()
}

// Drop cuts every connection without a word, as a network failure does.
func (s *Server) Drop() {
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.ws.UnderlyingConn().Close()
	}
	s.mu.Unlock()
}

// FailOpens makes the next apps.connections.open calls answer these
// errors, as Slack does while it has trouble (e.g. "internal_error").
func (s *Server) FailOpens(codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOpens = append(s.failOpens, codes...)
}

// RefusedOpens is how many apps.connections.open calls FailOpens answered.
func (s *Server) RefusedOpens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Connections is the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Opens is how many times apps.connections.open was called successfully.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// Acks returns every ack received, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// Violations lists the app's protocol mistakes.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// WaitFor waits until cond holds, checking on every change.
func (s *Server) WaitFor(ctx context.Context, cond func(*Server) bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("socketfake: waiting: %w", ctx.Err())
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}
