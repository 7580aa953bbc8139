package slackhandler

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
)

func newDeliverHandler(d Dispatcher, m Metrics) *Handler {
	return New(d, WithBotUserID(testBotUser), WithBotID(testBotID), WithSlashCommand("/agent"),
		WithAckTimeout(200*time.Millisecond), WithLogger(discardLogger()), WithMetrics(m))
}

// Socket Mode payloads go through the HTTP edge's code and come out as the
// same Dispatcher calls, with the ack Slack expects.
func TestDeliver(t *testing.T) {
	mention := `{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.1","channel":"C1","event_ts":"1.1"}}`
	command := `{"token":"x","team_id":"T1","channel_id":"C1","user_id":"U1","user_name":"u","command":"/agent","text":" help ","response_url":"https://hooks.slack.com/commands/1","trigger_id":"1.2","is_enterprise_install":"false"}`
	click := `{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1","name":"u"},"container":{"type":"message","channel_id":"C1","message_ts":"5.5","thread_ts":"4.4"},"actions":[{"type":"button","action_id":"approval:approve","block_id":"b","value":"card1"}]}`
	view := `{"type":"view_submission","team":{"id":"T1"},"user":{"id":"U1"},"view":{"callback_id":"review","private_metadata":"card1","state":{"values":{"b":{"a":{"type":"plain_text_input","value":"v"}}}}}}`

	tests := []struct {
		name        string
		d           Delivery
		setup       func(*fakeDispatcher)
		wantOK      bool
		wantPayload string
		check       func(t *testing.T, f *fakeDispatcher)
	}{
		{
			name:   "mention",
			d:      Delivery{Kind: KindEventsAPI, Payload: json.RawMessage(mention)},
			wantOK: true,
			check: func(t *testing.T, f *fakeDispatcher) {
				m := f.gotMessages()
				if len(m) != 1 || m[0].Text != "hi" || m[0].EventID != "Ev1" || !m[0].Mention || m[0].RetryNum != 0 {
					t.Fatalf("messages = %+v", m)
				}
			},
		},
		{
			name:   "redelivered event keeps its retry count",
			d:      Delivery{Kind: KindEventsAPI, Payload: json.RawMessage(mention), RetryAttempt: 2, RetryReason: "timeout"},
			wantOK: true,
			check: func(t *testing.T, f *fakeDispatcher) {
				m := f.gotMessages()
				// Unknown reasons are reported as "other", as over HTTP.
				if len(m) != 1 || m[0].RetryNum != 2 || m[0].RetryReason != "other" {
					t.Fatalf("messages = %+v", m)
				}
			},
		},
		{
			name:   "event the dispatcher refuses is not acked, so Slack delivers it again",
			d:      Delivery{Kind: KindEventsAPI, Payload: json.RawMessage(mention)},
			setup:  func(f *fakeDispatcher) { f.err = errors.New("store down") },
			wantOK: false,
		},
		{
			name:   "event type the bot does not handle is acked",
			d:      Delivery{Kind: KindEventsAPI, Payload: json.RawMessage(`{"type":"event_callback","event_id":"Ev2","event":{"type":"reaction_added"}}`)},
			wantOK: true,
			check: func(t *testing.T, f *fakeDispatcher) {
				if f.calls() != 0 {
					t.Fatalf("dispatched %d calls", f.calls())
				}
			},
		},
		{
			name:        "slash command reply goes in the ack payload",
			d:           Delivery{Kind: KindSlashCommands, Payload: json.RawMessage(command)},
			setup:       func(f *fakeDispatcher) { f.reply = slackbot.Reply{Text: "how to use"} },
			wantOK:      true,
			wantPayload: `{"response_type":"ephemeral","text":"how to use"}`,
			check: func(t *testing.T, f *fakeDispatcher) {
				c := f.commands
				if len(c) != 1 || c[0].Text != "help" || c[0].ResponseURL != "https://hooks.slack.com/commands/1" || c[0].TriggerID != "1.2" || c[0].TeamID != "T1" {
					t.Fatalf("commands = %+v", c)
				}
			},
		},
		{
			name:   "slash command with an empty reply acks empty",
			d:      Delivery{Kind: KindSlashCommands, Payload: json.RawMessage(command)},
			wantOK: true,
		},
		{
			name:   "button click",
			d:      Delivery{Kind: KindInteractive, Payload: json.RawMessage(click)},
			wantOK: true,
			check: func(t *testing.T, f *fakeDispatcher) {
				a := f.actions
				if len(a) != 1 || a[0].Value != "card1" || a[0].ThreadTS != "4.4" || a[0].MessageTS != "5.5" {
					t.Fatalf("actions = %+v", a)
				}
			},
		},
		{
			name:        "modal errors go in the ack payload",
			d:           Delivery{Kind: KindInteractive, Payload: json.RawMessage(view)},
			setup:       func(f *fakeDispatcher) { f.viewErrors = map[string]string{"b": "too long"} },
			wantOK:      true,
			wantPayload: `{"response_action":"errors","errors":{"b":"too long"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDispatcher{}
			if tt.setup != nil {
				tt.setup(f)
			}
			m := &recordingMetrics{}
			ack, err := newDeliverHandler(f, m).Deliver(context.Background(), tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if ack.OK != tt.wantOK || string(ack.Payload) != tt.wantPayload {
				t.Fatalf("ack = %v %s, want %v %s", ack.OK, ack.Payload, tt.wantOK, tt.wantPayload)
			}
			if len(m.acks) != 1 {
				t.Fatalf("ack metrics = %v, want one", m.acks)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestDeliverRejectsMalformedPayloads(t *testing.T) {
	h := newDeliverHandler(&fakeDispatcher{}, nil)
	for _, d := range []Delivery{
		{Kind: "hello"},
		{Kind: KindSlashCommands, Payload: json.RawMessage(`[1]`)},
		{Kind: KindInteractive, Payload: json.RawMessage(`{`)},
	} {
		if _, err := h.Deliver(context.Background(), d); err == nil {
			t.Errorf("Deliver(%s %s): no error", d.Kind, d.Payload)
		}
	}
	// A malformed event is the HTTP edge's 400: acked, never retried.
	ack, err := h.Deliver(context.Background(), Delivery{Kind: KindEventsAPI, Payload: json.RawMessage(`{"type":"event_callback","event":{}}`)})
	if err != nil || !ack.OK {
		t.Fatalf("malformed event: %+v %v", ack, err)
	}
}

// A dispatcher stuck past the ack timeout leaves an event unacked.
func TestDeliverEventTimeout(t *testing.T) {
	f := &fakeDispatcher{block: make(chan struct{})}
	defer close(f.block)
	mention := `{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"app_mention","user":"U1","text":"hi","ts":"1.1","channel":"C1"}}`
	ack, err := newDeliverHandler(f, nil).Deliver(context.Background(), Delivery{Kind: KindEventsAPI, Payload: json.RawMessage(mention)})
	if err != nil || ack.OK {
		t.Fatalf("ack = %+v, %v; want not OK", ack, err)
	}
}

// FuzzDeliver: whatever arrives over the socket, Deliver answers with an
// error or an ack and never panics; a malformed payload is never
// dispatched.
func FuzzDeliver(f *testing.F) {
	f.Add(KindEventsAPI, []byte(`{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.1","channel":"C1"}}`))
	f.Add(KindEventsAPI, []byte(`{"type":"event_callback","event":{"type":"message","subtype":"bot_message"}}`))
	f.Add(KindSlashCommands, []byte(`{"team_id":"T1","channel_id":"C1","user_id":"U1","command":"/agent","text":"help","is_enterprise_install":false,"n":1}`))
	f.Add(KindInteractive, []byte(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"a","value":"v"}]}`))
	f.Add(KindInteractive, []byte(`{"type":"view_submission","view":{"state":{"values":{"b":{"a":{"value":"x"}}}}}}`))
	f.Add("hello", []byte(`{}`))
	f.Fuzz(func(t *testing.T, kind string, payload []byte) {
		d := &fakeDispatcher{}
		h := newDeliverHandler(d, nil)
		ack, err := h.Deliver(context.Background(), Delivery{Kind: kind, Payload: payload})
		if err != nil {
			if d.calls() != 0 {
				t.Fatalf("rejected payload was dispatched")
			}
			return
		}
		if len(ack.Payload) > 0 && !json.Valid(ack.Payload) {
			t.Fatalf("ack payload is not JSON: %q", ack.Payload)
		}
	})
}
