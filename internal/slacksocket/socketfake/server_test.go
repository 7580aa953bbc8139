package socketfake

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func open(t *testing.T, s *Server, method, auth string, form url.Values) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, s.APIURL()+"apps.connections.open", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenRefusesWhatSlackRefuses(t *testing.T) {
	s := New("xapp-good")
	defer s.Close()
	tests := []struct {
		name, method, auth string
		form               url.Values
		want               string
	}{
		{"GET", http.MethodGet, "Bearer xapp-good", nil, "insecure_request"},
		{"no token", http.MethodPost, "", nil, "not_authed"},
		{"token as a POST parameter", http.MethodPost, "", url.Values{"token": {"xapp-good"}}, "invalid_auth"},
		{"bot token", http.MethodPost, "Bearer xoxb-1", nil, "not_allowed_token_type"},
		{"wrong app token", http.MethodPost, "Bearer xapp-bad", nil, "invalid_auth"},
	}
	for _, tt := range tests {
		if got := open(t, s, tt.method, tt.auth, tt.form); got["ok"] != false || got["error"] != tt.want {
			t.Errorf("%s: %v, want error %s", tt.name, got, tt.want)
		}
	}
	if s.Opens() != 0 {
		t.Fatalf("opens = %d", s.Opens())
	}
	got := open(t, s, http.MethodPost, "Bearer xapp-good", nil)
	if got["ok"] != true || !strings.HasPrefix(got["url"].(string), "ws://") {
		t.Fatalf("open = %v", got)
	}
	// A URL apps.connections.open did not hand out is refused.
	bogus := strings.Replace(got["url"].(string), "ticket=", "ticket=x", 1)
	if _, resp, err := websocket.DefaultDialer.Dial(bogus, nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bogus ticket: %v", err)
	}
}

// The fake says hello, takes acks and records the app's mistakes.
func TestEnvelopesAndAcks(t *testing.T) {
	s := New("xapp-good")
	defer s.Close()
	u := open(t, s, http.MethodPost, "Bearer xapp-good", nil)["url"].(string)
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var hello map[string]any
	if err := ws.ReadJSON(&hello); err != nil || hello["type"] != "hello" || hello["num_connections"] != float64(1) {
		t.Fatalf("hello = %v, %v", hello, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		ack Ack
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := s.Send(ctx, Envelope{ID: "e1", Type: "events_api", Payload: json.RawMessage(`{"type":"event_callback"}`)})
		done <- result{a, err}
	}()
	var env map[string]any
	if err := ws.ReadJSON(&env); err != nil || env["envelope_id"] != "e1" || env["type"] != "events_api" || env["accepts_response_payload"] != false {
		t.Fatalf("envelope = %v, %v", env, err)
	}
	// An ack with a payload for an envelope that accepts none, an ack for
	// an unknown envelope, then a second ack: three mistakes.
	for _, m := range []string{`{"envelope_id":"e1","payload":{"text":"x"}}`, `{"envelope_id":"nope"}`, `{"envelope_id":"e1"}`, `not json`} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.err != nil || r.ack.EnvelopeID != "e1" {
		t.Fatalf("Send = %+v, %v", r.ack, r.err)
	}
	if err := s.WaitFor(ctx, func(s *Server) bool { return len(s.Violations()) == 4 }); err != nil {
		t.Fatalf("violations = %q", s.Violations())
	}

	// No ack in time.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, err := s.Send(short, Envelope{Type: "events_api", Payload: json.RawMessage(`{}`)}); err != ErrNotAcked {
		t.Fatalf("unacked: %v", err)
	}
	ws.Close()
	if err := s.WaitFor(ctx, func(s *Server) bool { return s.Connections() == 0 }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, Envelope{Type: "events_api"}); err != ErrNoConnection {
		t.Fatalf("no connection: %v", err)
	}
}
