package bottest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// Readers of what the fake Slack shows.

// BotReplies are the bot's messages in a thread, not counting its root.
func BotReplies(f *slackfake.Server, channel, root string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range f.Thread(channel, root) {
		if m.IsBot() && m.TS != root {
			out = append(out, m)
		}
	}
	return out
}

// MarkdownOf returns the Markdown the bot sent in a message's markdown
// blocks (what Slack renders), falling back to its rendered text.
func MarkdownOf(m slackfake.Message) string {
	var blocks []struct {
		Type string `json:"type"`
		Text any    `json:"text"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		if s, ok := bl.Text.(string); ok && bl.Type == "markdown" {
			b.WriteString(s)
		}
	}
	if b.Len() == 0 {
		return m.Rendered
	}
	return b.String()
}

// AnswerText is every bot reply of a thread, in order, as Markdown.
func AnswerText(f *slackfake.Server, channel, root string) string {
	var parts []string
	for _, m := range BotReplies(f, channel, root) {
		parts = append(parts, MarkdownOf(m))
	}
	return strings.Join(parts, "\n")
}

// IsPlaceholder reports whether a bot message still says the work is under way.
func IsPlaceholder(m slackfake.Message) bool {
	return strings.Contains(m.Rendered, "Working on it") || strings.Contains(m.Rendered, "Resuming…")
}

// ThreadSettled reports whether a thread has a bot reply and every bot
// reply in it is final (not a placeholder, not streaming).
func ThreadSettled(f *slackfake.Server, channel, root string) bool {
	bots := 0
	for _, m := range BotReplies(f, channel, root) {
		bots++
		if m.Streaming || IsPlaceholder(m) {
			return false
		}
	}
	return bots > 0
}

// Settled reports whether no bot message anywhere is still in progress.
func Settled(f *slackfake.Server) bool {
	for _, ch := range f.Channels() {
		for _, m := range f.Messages(ch) {
			if m.IsBot() && (m.Streaming || IsPlaceholder(m)) {
				return false
			}
		}
	}
	return true
}

// LastRoot is the ts of the newest top-level message in channel.
func LastRoot(f *slackfake.Server, channel string) string {
	ts := ""
	for _, m := range f.Messages(channel) {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			ts = m.TS
		}
	}
	return ts
}

// ButtonValue finds the value of the button with actionID in a message's blocks.
func ButtonValue(blocks json.RawMessage, actionID string) string {
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(blocks, &bs)
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value
			}
		}
	}
	return ""
}

// FeedbackButtons finds a feedback_buttons element in a message's
// context_actions block: its action_id and the values of its 👍 and 👎.
func FeedbackButtons(m slackfake.Message) (actionID, good, bad string, ok bool) {
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Positive struct {
				Value string `json:"value"`
			} `json:"positive_button"`
			Negative struct {
				Value string `json:"value"`
			} `json:"negative_button"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, b := range blocks {
		if b.Type != "context_actions" {
			continue
		}
		for _, el := range b.Elements {
			if el.Type == "feedback_buttons" {
				return el.ActionID, el.Positive.Value, el.Negative.Value, true
			}
		}
	}
	return "", "", "", false
}

// ReactionLog is every reactions.* call on one message, as "+name" / "-name".
func ReactionLog(f *slackfake.Server, channel, ts string) []string {
	var out []string
	for _, c := range f.Calls() {
		if c.Params["channel"] != channel || c.Params["timestamp"] != ts {
			continue
		}
		switch c.Method {
		case "reactions.add":
			out = append(out, "+"+c.Params["name"])
		case "reactions.remove":
			out = append(out, "-"+c.Params["name"])
		}
	}
	return out
}

// StatusLog is every assistant.threads.setStatus value set on a thread, in order.
func StatusLog(f *slackfake.Server, channel, threadTS string) []string {
	var out []string
	for _, c := range f.CallsTo("assistant.threads.setStatus") {
		// A status set again (a refresh, new loading messages) is one entry.
		if c.Params["channel_id"] == channel && c.Params["thread_ts"] == threadTS && (len(out) == 0 || out[len(out)-1] != c.Params["status"]) {
			out = append(out, c.Params["status"])
		}
	}
	return out
}

// FailedCalls lists the Slack calls that failed, for "the bot made no call
// Slack refused" checks.
func FailedCalls(f *slackfake.Server) []string {
	var out []string
	for _, c := range f.Calls() {
		if !c.OK {
			out = append(out, c.Method+": "+c.Error)
		}
	}
	return out
}

// MetricValue sums the samples of a metric in Prometheus text exposition
// whose line contains every one of labels (e.g. `route="events"`).
func MetricValue(exposition, name string, labels ...string) (float64, error) {
	sum, found := 0.0, false
lines:
	for _, line := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("metric %s%v not exposed", name, labels)
	}
	return sum, nil
}
