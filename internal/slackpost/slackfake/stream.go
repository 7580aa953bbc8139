package slackfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// streamUpdate is what one streaming call adds to a message.
type streamUpdate struct {
	text  string
	plan  string // plan_update title, "" for none
	tasks []Task // task_update chunks, in order
}

// taskStatuses are the statuses a task_update chunk may carry (slack-go
// v0.35.0 block_task_card.go, from Slack's task card reference).
var taskStatuses = map[string]bool{"": true, "pending": true, "in_progress": true, "complete": true, "error": true}

// streamContent reads what a streaming call adds: markdown_text, then its
// chunks (markdown_text, task_update, plan_update, blocks). It returns a Slack
// error code and details when Slack would refuse the call.
func streamContent(p params) (streamUpdate, string, []string) {
	var u streamUpdate
	md := p["markdown_text"]
	// Slack: markdown_text is limited to 12,000 characters per call
	// (docs.slack.dev/reference/methods/chat.appendStream).
	if slackLen(md) > maxMarkdownTextParam {
		return u, "msg_too_long", nil
	}
	raw, has := p["chunks"]
	if !has {
		u.text = md
		return u, "", nil
	}
	if md != "" {
		// Slack: markdown_text and chunks are alternatives
		// (docs.slack.dev/reference/methods/chat.appendStream, "either").
		return u, "invalid_arguments", []string{"[ERROR] pass either markdown_text or chunks [json-pointer:/chunks]"}
	}
	var chunks []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &chunks); err != nil || len(chunks) == 0 {
		return u, "invalid_chunks", []string{"chunks must be a non-empty JSON array"}
	}
	var b strings.Builder
	v := &validator{}
	for i, c := range chunks {
		at := fmt.Sprintf("/chunks/%d", i)
		switch str(c["type"]) {
		case "markdown_text":
			b.WriteString(str(c["text"]))
		case "task_update":
			t := Task{ID: str(c["id"]), Title: str(c["title"]), Status: str(c["status"]),
				Details: str(c["details"]), Output: str(c["output"])}
			if t.ID == "" {
				v.failf(at+"/id", "missing required field: id")
			}
			if t.Title == "" {
				v.failf(at+"/title", "missing required field: title")
			}
			if !taskStatuses[t.Status] {
				v.failf(at+"/status", "must be one of pending, in_progress, complete, error")
			}
			u.tasks = append(u.tasks, t)
		case "plan_update":
			u.plan = str(c["title"])
			if u.plan == "" {
				v.failf(at+"/title", "missing required field: title")
			}
		case "blocks":
			var docs []json.RawMessage
			if err := json.Unmarshal(c["blocks"], &docs); err != nil {
				v.failf(at+"/blocks", "must be an array of blocks")
				continue
			}
			v.blocks(at+"/blocks", docs, surfaceMessage)
		default:
			v.failf(at+"/type", "unsupported chunk type: %s", str(c["type"]))
		}
	}
	if len(v.errs) > 0 {
		return u, "invalid_chunks", v.errs
	}
	u.text = b.String()
	if slackLen(u.text) > maxMarkdownTextParam {
		return u, "msg_too_long", nil
	}
	return u, "", nil
}

// apply records u on a streamed message.
func (m *message) apply(u streamUpdate) {
	m.text += u.text
	if u.plan != "" {
		m.plan = u.plan
	}
	for _, t := range u.tasks {
		i := slices.IndexFunc(m.tasks, func(old Task) bool { return old.ID == t.ID })
		if i < 0 {
			m.tasks = append(m.tasks, t)
			continue
		}
		m.tasks[i] = t
	}
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
	u, code, msgs := streamContent(p)
	if code != "" {
		return fail(code, msgs...)
	}
	m := &message{
		channel:   channel,
		ts:        s.newTS(),
		threadTS:  p["thread_ts"],
		user:      s.cfg.userID,
		botID:     s.cfg.botID,
		streamed:  true,
		streaming: true,
	}
	m.apply(u)
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
	u, code, msgs := streamContent(p)
	if code != "" {
		return fail(code, msgs...)
	}
	if u.text == "" {
		if _, hasChunks := p["chunks"]; !hasChunks {
			return fail("no_text")
		}
	}
	m.apply(u)
	m.appends++
	return ok(map[string]any{"channel": m.channel, "ts": m.ts})
}

func (s *Server) stopStream(p params) result {
	m, res, open := s.openStream(p)
	if !open {
		return res
	}
	u, code, msgs := streamContent(p)
	if code != "" {
		return fail(code, msgs...)
	}
	if raw, has := p["blocks"]; has {
		blocks, code, msgs := checkBlocks(raw)
		if code != "" {
			return fail(code, msgs...)
		}
		m.blocks = blocks
	}
	m.apply(u)
	m.streaming = false
	return ok(map[string]any{"channel": m.channel, "ts": m.ts, "message": m.apiJSON()})
}
