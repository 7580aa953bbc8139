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
	if waiting := h.deliver("job-1", &webhookPayload{RunID: "r1"}); waiting {
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
	h.deliver("job-1", &webhookPayload{RunID: "r2"})
	if p := h.payload("job-1"); p.RunID != "r1" {
		t.Error("a second delivery replaced the first")
	}
	h.unsubscribe("job-1")
	for i := range webhookMaxSlots + 10 {
		h.deliver("job-x"+strconv.Itoa(i), &webhookPayload{})
	}
	if n := len(h.slots); n > webhookMaxSlots {
		t.Errorf("%d unclaimed payloads kept, want at most %d", n, webhookMaxSlots)
	}
}
