package relay

import (
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

func TestWebhookTokens(t *testing.T) {
	r := &Relay{cfg: config{WebhookSecret: []byte("secret"), WebhookURL: "https://bot.example.com/"}}
	tok := r.webhookToken("msg:C1:1.2")
	if id, ok := r.keyFromToken(tok); !ok || id != "msg:C1:1.2" {
		t.Fatalf("round trip: %q %v", id, ok)
	}
	if got := r.webhookURL("j"); !strings.HasPrefix(got, "https://bot.example.com/agents/webhook/") {
		t.Errorf("webhook URL %q", got)
	}
	other := &Relay{cfg: config{WebhookSecret: []byte("other")}}
	for _, bad := range []string{"", "x", tok + "0", other.webhookToken("msg:C1:1.2"), strings.Replace(tok, ".", "x.", 1)} {
		if _, ok := r.keyFromToken(bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
}
