package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestReadableForAgent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"summarize <#C123|incidents> for <@U42|ann>", "summarize #incidents for @ann"},
		{"ping <@U42>", "ping @U42"},
		{"see <https://example.com/a|the doc>", "see the doc (https://example.com/a)"},
		{"see <https://example.com/a>", "see https://example.com/a"},
		{"mail <mailto:a@b.c|a@b.c>", "mail a@b.c (mailto:a@b.c)"},
		{"<!here> deploy?", "@here deploy?"},
		{"<!subteam^S1|@oncall> look", "@oncall look"},
		{"a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"},
		{"  plain  ", "plain"},
	}
	for _, tc := range tests {
		if got := readableForAgent(tc.in); got != tc.want {
			t.Errorf("readableForAgent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFailureText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&agents.Error{StatusCode: 401, Message: "Unauthorized"}, "LANGSMITH_API_KEY"},
		{&agents.Error{StatusCode: 403, Message: "Forbidden"}, "LANGSMITH_API_KEY"},
		{&agents.Error{StatusCode: 404, Code: "agent_not_found", Detail: "agent not found"}, "CHANNEL_AGENTS"},
		{&agents.Error{StatusCode: 409, Detail: "thread busy"}, "busy"},
		{&agents.Error{StatusCode: 400, Detail: "Set 'x'"}, "Details: Set 'x'"},
		{&agents.Error{StatusCode: 422, Detail: "bad decision"}, "Details: bad decision"},
		{&agents.Error{StatusCode: 429}, "rate limiting"},
		{&agents.Error{StatusCode: 502, Detail: "upstream"}, "failed upstream"},
		{&agents.Error{StatusCode: 503}, "unavailable"},
		{&agents.Error{StatusCode: 500}, "(500)"},
		{errors.New("dial tcp: connection refused"), "couldn't reach the agent runtime"},
		{fmt.Errorf("agents: create thread: %w", &url.Error{Op: "Post", URL: "http://10.0.0.7:8123/threads", Err: io.EOF}), "couldn't reach the agent runtime"},
	}
	for _, tc := range tests {
		got := failureText(tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("failureText(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
		// The runtime's address is no business of a Slack user.
		if strings.Contains(got, "http") || strings.Contains(got, "10.0.0.7") {
			t.Errorf("failureText(%v) = %q shows the runtime's address", tc.err, got)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := Policy{
		DefaultAgent:     "a0",
		ChannelAgents:    map[string]string{"C1": "a1"},
		HeadlessChannels: map[string]bool{"C2": true},
		TestRunChannels:  map[string]bool{"C3": true},
		OpsUsers:         map[string]bool{"UOPS": true},
		ApproverUsers:    map[string]bool{"UAPP": true},
	}
	if p.AgentFor("C1") != "a1" || p.AgentFor("C9") != "a0" {
		t.Error("AgentFor")
	}
	if !p.Allows("C9") {
		t.Error("an empty allow-list allows every channel")
	}
	p.AllowedChannels = map[string]bool{"C1": true}
	if p.Allows("C9") || !p.Allows("C1") {
		t.Error("allow-list not applied")
	}
	if got := p.OptionsFor("C2", false); got != (slackbot.Options{SkipMemoryWriteProtection: true}) {
		t.Errorf("headless options = %+v", got)
	}
	if got := p.OptionsFor("C3", false); got != (slackbot.Options{TestRun: true}) {
		t.Errorf("test-run channel options = %+v", got)
	}
	if got := p.OptionsFor("C1", true); got != (slackbot.Options{TestRun: true}) {
		t.Errorf("/agent test options = %+v", got)
	}
	for _, tc := range []struct {
		user string
		want bool
	}{{"USTARTER", true}, {"UOPS", true}, {"UAPP", true}, {"UOTHER", false}} {
		if got := p.MayDecide(tc.user, "USTARTER"); got != tc.want {
			t.Errorf("MayDecide(%s) = %v", tc.user, got)
		}
	}
}

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
	got, errs := decisionsFromModal(ic, values("reject", "edit", `{"to":"c@d.e"}`, "not now"))
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
	if _, errs := decisionsFromModal(ic, values("approve", "edit", "not json", "")); errs["args-1"] == "" {
		t.Errorf("bad edit JSON not reported: %v", errs)
	}
	if _, errs := decisionsFromModal(ic, values("edit", "approve", "{}", "")); errs["decision-0"] == "" {
		t.Errorf("a decision the request does not allow was accepted: %v", errs)
	}
	if _, errs := decisionsFromModal(ic, values("approve", "respond", "", "")); errs["message-1"] == "" {
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
	msg := cardMessage(card, agents.Interrupt{ActionRequests: reqs})
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

func TestWebhookTokens(t *testing.T) {
	r := &Relay{cfg: Config{WebhookSecret: []byte("secret"), WebhookURL: "https://bot.example.com/"}}
	tok := r.webhookToken("msg:C1:1.2")
	if id, ok := r.keyFromToken(tok); !ok || id != "msg:C1:1.2" {
		t.Fatalf("round trip: %q %v", id, ok)
	}
	if got := r.webhookURL("j"); !strings.HasPrefix(got, "https://bot.example.com/agents/webhook/") {
		t.Errorf("webhook URL %q", got)
	}
	other := &Relay{cfg: Config{WebhookSecret: []byte("other")}}
	for _, bad := range []string{"", "x", tok + "0", other.webhookToken("msg:C1:1.2"), strings.Replace(tok, ".", "x.", 1)} {
		if _, ok := r.keyFromToken(bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
}
