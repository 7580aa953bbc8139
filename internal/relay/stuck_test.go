package relay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestIsPermanent(t *testing.T) {
	slackErr := func(code string) error {
		return fmt.Errorf("deliver answer: %w", slack.SlackErrorResponse{Err: code})
	}
	tests := []struct {
		err  error
		want bool
	}{
		{slackErr("channel_not_found"), true},
		{slackErr("is_archived"), true},
		{slackErr("not_in_channel"), true},
		{slackErr("invalid_blocks"), true},
		{slackErr("msg_too_long"), true},
		{slackErr("ratelimited"), false},
		{slackErr("internal_error"), false},
		{&agents.Error{StatusCode: 400}, true},
		{&agents.Error{StatusCode: 404}, true},
		{&agents.Error{StatusCode: 422}, true},
		{&agents.Error{StatusCode: 408}, false},
		{&agents.Error{StatusCode: 409}, false},
		{&agents.Error{StatusCode: 429}, false},
		{&agents.Error{StatusCode: 502}, false},
		{fmt.Errorf("start: %w", agents.ErrOutcomeUnknown), false},
		{fmt.Errorf("bad payload: %w", errPermanent), true},
		{errors.New("database is locked"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := isPermanent(tc.err); got != tc.want {
			t.Errorf("isPermanent(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}

// A run is recognised by the Slack message (and card) it answers, never by
// the prompt's text: a repeated "continue" is another run.
func TestSameStart(t *testing.T) {
	prompt := map[string]any{"slack_user_id": "U1", "slack_message_ts": "2.000"}
	resume := map[string]any{"slack_user_id": "U1", "slack_message_ts": "1.000", "slack_card_id": "card-b"}
	tests := []struct {
		name string
		have map[string]any
		want map[string]any
		same bool
	}{
		{"the prompt's run", map[string]any{"slack_message_ts": "2.000", "slack_user_id": "U1"}, prompt, true},
		{"an earlier message's run", map[string]any{"slack_message_ts": "1.000"}, prompt, false},
		{"a run without metadata", nil, prompt, false},
		{"a resume run for the same message", map[string]any{"slack_message_ts": "2.000", "slack_card_id": "card-a"}, prompt, false},
		{"the resume's run", map[string]any{"slack_message_ts": "1.000", "slack_card_id": "card-b"}, resume, true},
		{"another card's resume", map[string]any{"slack_message_ts": "1.000", "slack_card_id": "card-a"}, resume, false},
		{"the prompt run before the resume", map[string]any{"slack_message_ts": "1.000"}, resume, false},
	}
	for _, tc := range tests {
		if got := sameStart(tc.have, tc.want); got != tc.same {
			t.Errorf("%s: sameStart = %v; want %v", tc.name, got, tc.same)
		}
	}
}

func TestGiveUpText(t *testing.T) {
	tests := []struct {
		reason string
		err    error
		want   string
	}{
		{gaveUpPermanent, slack.SlackErrorResponse{Err: "is_archived"}, "archived"},
		{gaveUpPermanent, slack.SlackErrorResponse{Err: "msg_too_long"}, "msg_too_long"},
		{gaveUpPermanent, &agents.Error{StatusCode: 404, Detail: "agent not found"}, "AGENT_ID"},
		{gaveUpAttempts, fmt.Errorf("x: %w: %w", errRuntime, errors.New("EOF")), "couldn't reach the agent runtime"},
		{gaveUpAttempts, errors.New("database is locked"), "after several tries"},
	}
	for _, tc := range tests {
		got := giveUpText(tc.reason, tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("giveUpText(%s, %v) = %q; want it to contain %q", tc.reason, tc.err, got, tc.want)
		}
		if strings.Contains(got, "database is locked") || strings.Contains(got, "EOF") {
			t.Errorf("giveUpText(%s, %v) = %q shows internals", tc.reason, tc.err, got)
		}
	}
}

func TestRetryDelayIsBounded(t *testing.T) {
	r := &Relay{cfg: config{RetryBase: time.Second}}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := r.retryDelay(i + 1); got != w {
			t.Errorf("retryDelay(%d) = %v; want %v", i+1, got, w)
		}
	}
	if got := r.retryDelay(40); got != maxRetryDelay {
		t.Errorf("retryDelay(40) = %v; want the cap %v", got, maxRetryDelay)
	}
}

func TestRoughly(t *testing.T) {
	for d, want := range map[time.Duration]string{2 * time.Hour: "2h", 90 * time.Minute: "90m", 45 * time.Second: "45s", 100 * time.Millisecond: "1s"} {
		if got := roughly(d); got != want {
			t.Errorf("roughly(%v) = %q; want %q", d, got, want)
		}
	}
}
