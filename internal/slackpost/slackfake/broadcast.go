package slackfake

import (
	"encoding/json"
	"slices"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// textParams are the parameters whose content Slack shows (and would turn
// into notifications).
var textParams = []string{"text", "markdown_text", "blocks", "chunks", "view", "loading_messages", "status", "title"}

// broadcastsIn lists every live broadcast mention (<!here>, <!channel>,
// <!everyone>, <!subteam^…>, @here-style words) in a call's content: real
// Slack would notify a whole channel or group for it if it accepts the call.
func broadcastsIn(method string, p params) []string {
	var found []string
	for _, name := range textParams {
		raw, ok := p[name]
		if !ok {
			continue
		}
		for _, text := range leafStrings(raw) {
			if live := slacktext.LiveBroadcast(text); live != "" {
				found = append(found, method+" "+name+": "+live)
			}
		}
	}
	return found
}

// leafStrings are the strings of a parameter that Slack renders: the string
// values anywhere in it when it is JSON (blocks, chunks, views), else the
// value itself.
func leafStrings(raw string) []string {
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return []string{raw}
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				// A text input's value is text being edited, never
				// rendered as mentions.
				if k != "initial_value" {
					walk(e)
				}
			}
		}
	}
	walk(v)
	return out
}

// Broadcasts lists the live broadcast mentions the bot posted, as
// "method param: token", in order. A bot must never make Slack notify a
// whole channel on behalf of whoever wrote the text it posts.
func (s *Server) Broadcasts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.broadcasts)
}

// Reset forgets every call, message, ephemeral, view, broadcast and file, keeping
// the configuration and rate-limit state: long fuzz runs reuse one server.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.ephemerals, s.opened, s.broadcasts = nil, nil, nil, nil
	s.channels = map[string]*channelState{}
	s.statuses = map[threadKey]assistantStatus{}
	s.titles = map[threadKey]string{}
	s.files, s.downloads = map[string]*storedFile{}, 0
	s.notify()
}
