package slackhandler

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/deepagents-slack/slackbot"
)

// blockActionsPayload is a block_actions payload shaped like Slack's reference.
const blockActionsPayload = `{
  "type": "block_actions",
  "user": {"id": "U1", "username": "ann", "name": "ann", "team_id": "T1"},
  "api_app_id": "A1",
  "token": "legacy",
  "container": {"type": "message", "message_ts": "100.0", "channel_id": "C1", "is_ephemeral": false, "thread_ts": "90.0"},
  "trigger_id": "123.456.abc",
  "team": {"id": "T1", "domain": "acme"},
  "channel": {"id": "C1", "name": "general"},
  "message": {"type": "message", "user": "UBOT", "ts": "100.0", "thread_ts": "90.0", "text": "Approve tool call?"},
  "response_url": "https://hooks.slack.com/actions/T1/1/abc",
  "state": {"values": {}},
  "actions": [
    {"action_id": "approve", "block_id": "hitl:run1", "text": {"type": "plain_text", "text": "Approve"}, "value": "run1:0", "type": "button", "action_ts": "101.0"},
    {"action_id": "pick", "block_id": "hitl:run1", "type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "B"}, "value": "b"}, "action_ts": "101.1"}
  ]
}`

const viewSubmissionPayload = `{
  "type": "view_submission",
  "team": {"id": "T1", "domain": "acme"},
  "user": {"id": "U1", "username": "ann", "name": "ann", "team_id": "T1"},
  "api_app_id": "A1",
  "trigger_id": "123.456.def",
  "view": {
    "id": "V1", "team_id": "T1", "type": "modal", "callback_id": "edit_tool_call", "private_metadata": "run1:0",
    "state": {"values": {
      "args": {"args_input": {"type": "plain_text_input", "value": "{\"q\":\"go\"}"}},
      "target": {"who": {"type": "users_select", "selected_user": "U9"}},
      "tags": {"pick": {"type": "multi_static_select", "selected_options": [{"text": {"type": "plain_text", "text": "a"}, "value": "a"}, {"text": {"type": "plain_text", "text": "b"}, "value": "b"}]}}
    }}
  }
}`

func interactionRequest(payload string) *http.Request {
	return formRequest("/slack/interactions", url.Values{"payload": {payload}})
}

func TestBlockActions(t *testing.T) {
	d := &fakeDispatcher{}
	rec := serve(newTestRouter(d, nil), interactionRequest(blockActionsPayload))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("status %d body %q, want empty 200", rec.Code, rec.Body)
	}
	base := slackbot.Action{TeamID: "T1", UserID: "U1", UserName: "ann", ChannelID: "C1", MessageTS: "100.0", ThreadTS: "90.0",
		ResponseURL: "https://hooks.slack.com/actions/T1/1/abc", TriggerID: "123.456.abc"}
	first, second := base, base
	first.ActionID, first.BlockID, first.Value = "approve", "hitl:run1", "run1:0"
	second.ActionID, second.BlockID, second.Value = "pick", "hitl:run1", "b"
	if want := []slackbot.Action{first, second}; !reflect.DeepEqual(d.actions, want) {
		t.Errorf("actions:\n got %+v\nwant %+v", d.actions, want)
	}
}

func TestBlockActionsDispatcherError(t *testing.T) {
	d := &fakeDispatcher{err: errors.New("store down")}
	if rec := serve(newTestRouter(d, nil), interactionRequest(blockActionsPayload)); rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500 so Slack shows the click failed", rec.Code)
	}
}

func TestViewSubmission(t *testing.T) {
	wantView := []slackbot.ViewSubmission{{
		TeamID: "T1", UserID: "U1", CallbackID: "edit_tool_call", PrivateMetadata: "run1:0",
		Values: map[string]map[string]string{
			"args":   {"args_input": `{"q":"go"}`},
			"target": {"who": "U9"},
			"tags":   {"pick": "a,b"},
		},
	}}
	tests := []struct {
		name       string
		viewErrors map[string]string
		wantBody   string
	}{
		{"accepted closes the modal", nil, ""},
		{"errors keep it open", map[string]string{"args": "not valid JSON"},
			`{"response_action":"errors","errors":{"args":"not valid JSON"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{viewErrors: tt.viewErrors}
			rec := serve(newTestRouter(d, nil), interactionRequest(viewSubmissionPayload))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			if !jsonEqual(rec.Body.String(), tt.wantBody) {
				t.Errorf("body = %q, want %q", rec.Body, tt.wantBody)
			}
			if !reflect.DeepEqual(d.views, wantView) {
				t.Errorf("views:\n got %+v\nwant %+v", d.views, wantView)
			}
		})
	}
}

func TestOtherInteractionsAreAcked(t *testing.T) {
	for _, payload := range []string{
		`{"type":"view_closed","team":{"id":"T1"},"user":{"id":"U1"},"view":{"id":"V1"}}`,
		`{"type":"shortcut","callback_id":"x","team":{"id":"T1"},"user":{"id":"U1"}}`,
		`{"type":"something_new"}`,
		`{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1"},"actions":[]}`,
	} {
		d := &fakeDispatcher{}
		if rec := serve(newTestRouter(d, nil), interactionRequest(payload)); rec.Code != http.StatusOK || d.calls() != 0 {
			t.Errorf("%s: status %d, %d dispatcher calls; want 200, none", payload, rec.Code, d.calls())
		}
	}
}

func TestMalformedInteractions(t *testing.T) {
	tests := []struct {
		name, contentType, body string
	}{
		{"payload not JSON", "application/x-www-form-urlencoded", url.Values{"payload": {"{nope"}}.Encode()},
		{"wrong state shape", "application/x-www-form-urlencoded", url.Values{"payload": {`{"type":"block_actions","state":[1]}`}}.Encode()},
		{"no payload", "application/x-www-form-urlencoded", "foo=bar"},
		{"bad form escape", "application/x-www-form-urlencoded", "payload=%zz"},
		{"JSON body", "application/json", blockActionsPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{}
			rec := serve(newTestRouter(d, nil), signedRequest("/slack/interactions", tt.contentType, []byte(tt.body)))
			if rec.Code != http.StatusBadRequest || d.calls() != 0 {
				t.Errorf("status %d, %d dispatcher calls; want 400, none", rec.Code, d.calls())
			}
		})
	}
}

// A validly signed request must not be able to carry a payload in its URL,
// which the signature does not cover.
func TestInteractionPayloadOnlyFromBody(t *testing.T) {
	d := &fakeDispatcher{}
	req := signedRequest("/slack/interactions", "application/x-www-form-urlencoded", []byte("foo=bar"))
	req.URL.RawQuery = url.Values{"payload": {blockActionsPayload}}.Encode()
	if rec := serve(newTestRouter(d, nil), req); rec.Code != http.StatusBadRequest || d.calls() != 0 {
		t.Errorf("status %d, %d dispatcher calls; want 400, none", rec.Code, d.calls())
	}
}
