package slackhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
)

// Kinds of payload Slack delivers outside HTTP, named as Socket Mode names
// its envelope types (docs.slack.dev/apis/events-api/using-socket-mode).
const (
	KindEventsAPI     = "events_api"
	KindSlashCommands = "slash_commands"
	KindInteractive   = "interactive"
)

// Delivery is a payload Slack sent over another transport than HTTP
// (Socket Mode). The payload is the same document Slack would POST to the
// HTTP routes: an Events API body, a slash command's fields as a JSON
// object, or an interaction's "payload" JSON.
type Delivery struct {
	Kind         string
	Payload      json.RawMessage
	RetryAttempt int    // Socket Mode's retry_attempt: X-Slack-Retry-Num over HTTP
	RetryReason  string // Socket Mode's retry_reason
}

// Ack is how a Delivery should be answered.
type Ack struct {
	// OK: acknowledge the envelope. False means the work may not have been
	// recorded: leave it unacknowledged so Slack delivers it again, as a
	// 5xx does over HTTP.
	OK bool
	// Payload is what the HTTP edge would have answered in its body (a
	// slash command's reply, a modal's errors), nil for an empty ack.
	Payload json.RawMessage
}

// Deliver hands d to exactly the code that serves the HTTP routes (parsing,
// filtering, the ack deadline, dispatch, metrics), minus the signature
// check: the transport is authenticated by the app token instead. So the
// HTTP edge and Socket Mode cannot drift apart. Deliver waits at most the
// ack timeout.
func (h *Handler) Deliver(ctx context.Context, d Delivery) (Ack, error) {
	var (
		route, path, contentType string
		body                     []byte
		serve                    http.HandlerFunc
		header                   = http.Header{}
	)
	switch d.Kind {
	case KindEventsAPI:
		route, path, contentType, body, serve = RouteEvents, "/slack/events", "application/json", d.Payload, h.serveEvent
		if d.RetryAttempt > 0 {
			header.Set("X-Slack-Retry-Num", strconv.Itoa(d.RetryAttempt))
			header.Set("X-Slack-Retry-Reason", d.RetryReason)
		}
	case KindSlashCommands:
		form, err := formFromJSON(d.Payload)
		if err != nil {
			return Ack{}, fmt.Errorf("slackhandler: slash command payload: %w", err)
		}
		route, path, contentType, body, serve = RouteCommands, "/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), h.serveCommand
	case KindInteractive:
		if !json.Valid(d.Payload) {
			return Ack{}, fmt.Errorf("slackhandler: interaction payload is not JSON")
		}
		form := url.Values{"payload": {string(d.Payload)}}
		route, path, contentType, body, serve = RouteInteractions, "/slack/interactions", "application/x-www-form-urlencoded", []byte(form.Encode()), h.serveInteraction
	default:
		return Ack{}, fmt.Errorf("slackhandler: unknown delivery kind %q", d.Kind)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return Ack{}, fmt.Errorf("slackhandler: %w", err)
	}
	req.Header = header
	req.Header.Set("Content-Type", contentType)
	w := &recorder{header: http.Header{}}
	h.observe(route, serve).ServeHTTP(w, req)
	return w.ack(), nil
}

// formFromJSON turns a slash command's Socket Mode payload (its form fields
// as a JSON object of strings) back into the form Slack posts over HTTP.
func formFromJSON(raw json.RawMessage) (url.Values, error) {
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	form := url.Values{}
	for k, v := range fields {
		switch v := v.(type) {
		case string:
			form.Set(k, v)
		case nil:
		case bool, float64:
			form.Set(k, fmt.Sprint(v))
		default:
			b, _ := json.Marshal(v)
			form.Set(k, string(b))
		}
	}
	return form, nil
}

// recorder captures what the HTTP handlers answer.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// ack maps the HTTP answer to a Socket Mode ack. A 4xx is acknowledged:
// the payload is unusable and a redelivery of the same bytes cannot help
// (over HTTP the handler asks Slack not to retry it). A 5xx is not: the
// work may not be recorded and Slack should deliver it again.
func (r *recorder) ack() Ack {
	code := r.code
	if code == 0 {
		code = http.StatusOK
	}
	if code >= 500 {
		return Ack{}
	}
	a := Ack{OK: true}
	if mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type")); err == nil && mt == "application/json" && code < 300 && r.body.Len() > 0 {
		a.Payload = json.RawMessage(bytes.TrimSpace(r.body.Bytes()))
	}
	return a
}
