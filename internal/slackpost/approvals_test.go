package slackpost

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestDecisionsFromModal(t *testing.T) {
	ic := agents.Interrupt{
		ActionRequests: []agents.ActionRequest{
			{Name: "write_file", Args: map[string]any{"file_path": "/memories/a.md", "content": "x"}},
			{Name: "send_email", Args: map[string]any{"to": "a@b.c"}},
		},
		ReviewConfigs: []agents.ReviewConfig{
			{ActionName: "write_file", AllowedDecisions: []string{"approve", "reject"}},
			{ActionName: "send_email", AllowedDecisions: []string{"approve", "edit", "reject", "respond"}},
		},
	}
	values := func(c0, c1, args1, msg0 string) map[string]map[string]string {
		return map[string]map[string]string{
			"decision-0": {"choice": c0}, "decision-1": {"choice": c1},
			"args-1": {"value": args1}, "message-0": {"value": msg0},
		}
	}
	got, errs := ReviewDecisions(ic, values("reject", "edit", `{"to":"c@d.e"}`, "not now"))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []agents.Decision{
		{Type: "reject", Message: "not now"},
		{Type: "edit", EditedAction: &agents.EditedAction{Name: "send_email", Args: map[string]any{"to": "c@d.e"}}},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("decisions = %s, want %s", gj, wj)
	}
	if _, errs := ReviewDecisions(ic, values("approve", "edit", "not json", "")); errs["args-1"] == "" {
		t.Errorf("bad edit JSON not reported: %v", errs)
	}
	if _, errs := ReviewDecisions(ic, values("edit", "approve", "{}", "")); errs["decision-0"] == "" {
		t.Errorf("a decision the request does not allow was accepted: %v", errs)
	}
	if _, errs := ReviewDecisions(ic, values("approve", "respond", "", "")); errs["message-1"] == "" {
		t.Errorf("respond without a message accepted: %v", errs)
	}
}

func TestCardMessageStaysWithinSlackLimits(t *testing.T) {
	var reqs []agents.ActionRequest
	for i := 0; i < 30; i++ {
		reqs = append(reqs, agents.ActionRequest{Name: "write_file", Args: map[string]any{
			"file_path": fmt.Sprintf("/memories/%d.md", i), "content": strings.Repeat("```<&> ü", 2000)}})
	}
	card := slackbot.Card{ID: "card-1", StartedBy: "U1"}
	msg := approvalCard(card, agents.Interrupt{ActionRequests: reqs})
	if len(msg.Blocks) > 50 {
		t.Fatalf("%d blocks, Slack allows 50", len(msg.Blocks))
	}
	raw, _ := json.Marshal(msg.Blocks)
	var blocks []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if n := len([]rune(b.Text.Text)); b.Type == "section" && n > 3000 {
			t.Errorf("section %d has %d characters", i, n)
		}
		if b.Type == "section" && strings.Count(b.Text.Text, "```")%2 != 0 {
			t.Errorf("section %d breaks out of its code block: %q", i, b.Text.Text[:80])
		}
	}
}
