package relay

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestOutcomeOf(t *testing.T) {
	values := json.RawMessage(`{"messages":[{"type":"human","content":"hi"},{"type":"ai","content":"From the values."}]}`)
	interrupted := json.RawMessage(`{"messages":[],"__interrupt__":[{"id":"i1","value":{"action_requests":[{"name":"write_file","args":{"file_path":"/memories/a"}}],"review_configs":[{"action_name":"write_file","allowed_decisions":["approve","reject"]}]}}]}`)
	tests := []struct {
		name            string
		view            agents.RunView
		status          string
		values          json.RawMessage
		errMsg          string
		answer, failure string
		interrupt       bool
	}{
		{name: "stream told all", view: agents.RunView{Final: "Streamed.", Text: "Streamed."}, answer: "Streamed."},
		{name: "values win over a partial view", view: agents.RunView{Text: "Part"}, status: agents.ThreadIdle, values: values, answer: "From the values."},
		{name: "stream failure", view: agents.RunView{Failure: "boom"}, failure: "The run failed: boom"},
		{name: "thread error with message", status: agents.ThreadError, errMsg: "tool exploded", failure: "The run failed: tool exploded"},
		{name: "thread error without message", status: agents.ThreadError, failure: "The run ended with an error in the agent runtime."},
		{name: "interrupt from values", status: agents.ThreadInterrupted, values: interrupted, interrupt: true},
		{name: "interrupt from a webhook body (no status)", values: interrupted, interrupt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := outcomeOf(tt.view, tt.status, tt.values, nil, tt.errMsg)
			if out.answer != tt.answer || out.failure != tt.failure || (out.interrupt != nil) != tt.interrupt {
				t.Errorf("outcome %+v, want answer %q failure %q interrupt %v", out, tt.answer, tt.failure, tt.interrupt)
			}
		})
	}
}

func TestWebhookHubKeepsEarlyPayloads(t *testing.T) {
	h := newWebhookHub()
	if waiting := h.deliver("job-1", &webhookResult{RunID: "r1"}); waiting {
		t.Error("nobody was waiting")
	}
	select {
	case <-h.subscribe("job-1"):
	default:
		t.Fatal("a payload that came before the worker subscribed was lost")
	}
	if p := h.payload("job-1"); p == nil || p.RunID != "r1" {
		t.Fatalf("payload %+v", p)
	}
	h.deliver("job-1", &webhookResult{RunID: "r2"})
	if p := h.payload("job-1"); p.RunID != "r1" {
		t.Error("a second delivery replaced the first")
	}
	h.reopen("job-1")
	hook := h.subscribe("job-1")
	if h.payload("job-1") != nil {
		t.Error("reopen kept the payload")
	}
	if waiting := h.deliver("job-1", &webhookResult{RunID: "r3"}); !waiting {
		t.Error("the worker waiting after reopen was not seen")
	}
	<-hook
	if p := h.payload("job-1"); p == nil || p.RunID != "r3" {
		t.Errorf("after reopen: payload %+v, want r3", p)
	}
	h.unsubscribe("job-1")
	if len(h.slots) != 0 || h.bytes != 0 {
		t.Errorf("after unsubscribe: %d slots, %d bytes", len(h.slots), h.bytes)
	}
}

// TestWebhookHubBounds: unclaimed results are capped in number and in
// bytes, the oldest dropped first; a slot a worker waits on is never dropped.
func TestWebhookHubBounds(t *testing.T) {
	h := newWebhookHub()
	h.subscribe("waiting")
	for i := range webhookMaxSlots + 10 {
		h.deliver("job-x"+strconv.Itoa(i), &webhookResult{size: 10})
	}
	if n := len(h.slots); n > webhookMaxSlots+1 {
		t.Errorf("%d slots kept, want at most %d unclaimed and the waiting one", n, webhookMaxSlots)
	}
	if _, ok := h.slots["waiting"]; !ok {
		t.Error("the slot a worker waits on was dropped")
	}
	if _, ok := h.slots["job-x0"]; ok {
		t.Error("the oldest unclaimed result was kept")
	}
	big := webhookMaxBytes / 4
	for i := range 8 {
		h.deliver("big-"+strconv.Itoa(i), &webhookResult{size: big})
	}
	if h.bytes > webhookMaxBytes {
		t.Errorf("%d bytes kept, want at most %d", h.bytes, webhookMaxBytes)
	}
	if h.payload("big-7") == nil {
		t.Error("the newest result was not kept")
	}
}

// TestWebhookResultKeepsWhatTheOutcomeNeeds: the kept result of a body
// tells the same outcome as its values did, without the conversation.
func TestWebhookResultKeepsWhatTheOutcomeNeeds(t *testing.T) {
	answered := resultOf(webhookBody{RunID: "r1", Status: agents.RunSuccess,
		Values: json.RawMessage(`{"messages":[{"type":"human","content":"hi"},{"type":"ai","content":"From the values."}]}`)})
	if out := outcomeOfWebhook(agents.RunView{Text: "Part"}, answered); out.answer != "From the values." {
		t.Errorf("answer %q", out.answer)
	}
	interrupted := resultOf(webhookBody{RunID: "r1", Status: agents.RunInterrupted,
		Values: json.RawMessage(`{"messages":[],"__interrupt__":[{"id":"i1","value":{"action_requests":[{"name":"write_file","args":{"file_path":"/memories/a"}}],"review_configs":[{"action_name":"write_file","allowed_decisions":["approve","reject"]}]}}]}`)})
	if out := outcomeOfWebhook(agents.RunView{}, interrupted); out.interrupt == nil || out.interrupt.ActionRequests[0].Name != "write_file" {
		t.Errorf("outcome %+v, want the interrupt", out)
	}
	failed := resultOf(webhookBody{Status: agents.RunError, Error: json.RawMessage(`"tool exploded"`)})
	if out := outcomeOfWebhook(agents.RunView{}, failed); out.failure != "The run failed: tool exploded" {
		t.Errorf("failure %q", out.failure)
	}
	if answered.size == 0 || answered.size > 100 {
		t.Errorf("kept %d bytes for a short answer", answered.size)
	}
}
