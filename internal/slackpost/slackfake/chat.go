package slackfake

import (
	"regexp"
	"strings"
)

// channelIDPattern accepts encoded conversation ids: public (C), private (G) and DM (D).
var channelIDPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)

// checkChannel validates a conversation id the way Slack does for a write.
// Callers hold s.mu.
func (s *Server) checkChannel(id string) (result, bool) {
	switch {
	case !channelIDPattern.MatchString(id):
		return fail("channel_not_found"), false
	case s.notIn[id]:
		return fail("not_in_channel"), false
	case s.archived[id]:
		return fail("is_archived"), false
	}
	return result{}, true
}

// content is a validated message body.
type content struct {
	text       string
	hasText    bool
	blocks     checkedBlocks
	hasBlocks  bool
	markdown   bool // came from markdown_text
	truncated  bool
	rejectCode string
	rejectMsgs []string
}

// parseContent reads text, blocks and markdown_text and applies Slack's rules.
func parseContent(p params) content {
	var c content
	text, hasText := p["text"]
	md, hasMarkdown := p["markdown_text"]
	rawBlocks, hasBlocks := p["blocks"]
	if hasMarkdown && (hasText || hasBlocks) {
		return content{rejectCode: "markdown_text_conflict"}
	}
	if hasMarkdown {
		if slackLen(md) > maxMarkdownTextParam {
			return content{rejectCode: "msg_too_long"}
		}
		c.text, c.hasText, c.markdown = md, md != "", true
		return c
	}
	if hasBlocks {
		blocks, code, msgs := checkBlocks(rawBlocks)
		if code != "" {
			return content{rejectCode: code, rejectMsgs: msgs}
		}
		c.blocks, c.hasBlocks = blocks, true
	}
	c.text, c.truncated = truncateText(text)
	c.hasText = strings.TrimSpace(text) != ""
	return c
}

// empty reports whether there is nothing to show.
func (c content) empty() bool {
	return !c.hasText && (!c.hasBlocks || c.blocks.empty)
}

func (c content) warning() string {
	if c.truncated {
		return "message_truncated"
	}
	return ""
}

func (s *Server) postMessage(p params) result {
	channel := p["channel"]
	if res, ok := s.checkChannel(channel); !ok {
		return res
	}
	c := parseContent(p)
	if c.rejectCode != "" {
		return fail(c.rejectCode, c.rejectMsgs...)
	}
	if c.empty() {
		return fail("no_text")
	}
	// Slack accepts any thread_ts, even one that names no message; the fake records it.
	m := &message{
		channel:  channel,
		ts:       s.newTS(),
		threadTS: p["thread_ts"],
		user:     s.cfg.userID,
		botID:    s.cfg.botID,
		text:     c.text,
		blocks:   c.blocks,
	}
	s.channel(channel).msgs = append(s.channel(channel).msgs, m)
	s.botReplied(channel, m.threadTS)
	res := ok(map[string]any{"channel": channel, "ts": m.ts, "message": m.apiJSON()})
	res.warning = c.warning()
	return res
}

// botReplied clears the thread's assistant status: Slack does so when the app replies.
func (s *Server) botReplied(channel, threadTS string) {
	if threadTS != "" {
		delete(s.statuses, threadKey{channel, threadTS})
	}
}

func (s *Server) update(p params) result {
	channel := p["channel"]
	if res, ok := s.checkChannel(channel); !ok {
		return res
	}
	m := s.channel(channel).find(p["ts"])
	if m == nil {
		return fail("message_not_found")
	}
	if m.botID != s.cfg.botID {
		return fail("cant_update_message")
	}
	c := parseContent(p)
	if c.rejectCode != "" {
		return fail(c.rejectCode, c.rejectMsgs...)
	}
	if c.empty() {
		return fail("no_text")
	}
	switch {
	case c.markdown:
		m.text, m.blocks = c.text, checkedBlocks{}
	default:
		// Slack keeps the previous blocks unless blocks are sent ("[]" clears them).
		if _, sent := p["text"]; sent {
			m.text = c.text
		}
		if c.hasBlocks {
			m.blocks = c.blocks
			if c.blocks.empty {
				m.blocks = checkedBlocks{}
			}
		}
	}
	// An update replaces what a stream showed: from now on the message reads
	// like any other.
	m.streamed, m.streaming = false, false
	m.plan, m.tasks = "", nil
	m.updates++
	res := ok(map[string]any{"channel": channel, "ts": m.ts, "text": m.text, "message": m.apiJSON()})
	res.warning = c.warning()
	return res
}

func (s *Server) postEphemeral(p params) result {
	channel := p["channel"]
	if res, ok := s.checkChannel(channel); !ok {
		return res
	}
	user := p["user"]
	if user == "" {
		return fail("user_not_found")
	}
	c := parseContent(p)
	if c.rejectCode != "" {
		return fail(c.rejectCode, c.rejectMsgs...)
	}
	if c.empty() {
		return fail("no_text")
	}
	s.ephemerals = append(s.ephemerals, Ephemeral{
		Channel:  channel,
		User:     user,
		Text:     c.text,
		Blocks:   c.blocks.raw,
		ThreadTS: p["thread_ts"],
	})
	res := ok(map[string]any{"message_ts": s.newTS()})
	res.warning = c.warning()
	return res
}

func (s *Server) deleteMessage(p params) result {
	channel := p["channel"]
	if res, ok := s.checkChannel(channel); !ok {
		return res
	}
	ts := p["ts"]
	m := s.channel(channel).find(ts)
	if m == nil {
		return fail("message_not_found")
	}
	if m.botID != s.cfg.botID {
		return fail("cant_delete_message")
	}
	s.channel(channel).remove(ts)
	return ok(map[string]any{"channel": channel, "ts": ts})
}
