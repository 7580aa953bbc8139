package slackfake

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// streamText reads the text a streaming call adds: markdown_text, then the text of any
// markdown_text chunks. Other chunk types (task/plan updates, blocks) are only recorded
// in the call's params.
func streamText(p params) (string, string) {
	md := p["markdown_text"]
	if utf8.RuneCountInString(md) > maxMarkdownTextParam {
		return "", "msg_too_long"
	}
	raw, has := p["chunks"]
	if !has {
		return md, ""
	}
	var chunks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(raw), &chunks); err != nil {
		return "", "invalid_chunks"
	}
	var b strings.Builder
	b.WriteString(md)
	for _, c := range chunks {
		switch c.Type {
		case "":
			return "", "invalid_chunks"
		case "markdown_text":
			if utf8.RuneCountInString(c.Text) > maxMarkdownTextParam {
				return "", "msg_too_long"
			}
			b.WriteString(c.Text)
		}
	}
	return b.String(), ""
}

func (s *Server) startStream(p params) result {
	channel := p["channel"]
	if res, ok := s.checkChannel(channel); !ok {
		return res
	}
	// Outside DMs Slack needs to know whose request the stream answers.
	if !strings.HasPrefix(channel, "D") {
		if p["recipient_user_id"] == "" {
			return fail("missing_recipient_user_id")
		}
		if p["recipient_team_id"] == "" {
			return fail("missing_recipient_team_id")
		}
	}
	text, code := streamText(p)
	if code != "" {
		return fail(code)
	}
	m := &message{
		channel:   channel,
		ts:        s.newTS(),
		threadTS:  p["thread_ts"],
		user:      s.cfg.userID,
		botID:     s.cfg.botID,
		text:      text,
		streamed:  true,
		streaming: true,
	}
	s.channel(channel).msgs = append(s.channel(channel).msgs, m)
	s.botReplied(channel, m.threadTS)
	return ok(map[string]any{"channel": channel, "ts": m.ts})
}

// openStream finds a stream that still accepts writes, expiring it when it has
// outlived WithStreamExpiry.
func (s *Server) openStream(p params) (*message, result, bool) {
	channel := p["channel"]
	if res, ok := s.checkChannel(channel); !ok {
		return nil, res, false
	}
	m := s.channel(channel).find(p["ts"])
	if m == nil {
		return nil, fail("message_not_found"), false
	}
	if m.botID != s.cfg.botID {
		return nil, fail("message_not_owned_by_app"), false
	}
	if m.streaming && s.cfg.streamExpiry >= 0 && m.appends >= s.cfg.streamExpiry {
		m.streaming = false
	}
	if !m.streaming {
		return nil, fail("message_not_in_streaming_state"), false
	}
	return m, result{}, true
}

func (s *Server) appendStream(p params) result {
	m, res, open := s.openStream(p)
	if !open {
		return res
	}
	text, code := streamText(p)
	if code != "" {
		return fail(code)
	}
	if text == "" {
		if _, hasChunks := p["chunks"]; !hasChunks {
			return fail("no_text")
		}
	}
	m.text += text
	m.appends++
	return ok(map[string]any{"channel": m.channel, "ts": m.ts})
}

func (s *Server) stopStream(p params) result {
	m, res, open := s.openStream(p)
	if !open {
		return res
	}
	text, code := streamText(p)
	if code != "" {
		return fail(code)
	}
	if raw, has := p["blocks"]; has {
		blocks, code, msgs := checkBlocks(raw)
		if code != "" {
			return fail(code, msgs...)
		}
		m.blocks = blocks
	}
	m.text += text
	m.streaming = false
	return ok(map[string]any{"channel": m.channel, "ts": m.ts, "message": m.apiJSON()})
}
