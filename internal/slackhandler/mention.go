package slackhandler

import (
	"bytes"
	"strings"
)

// maxMentionLen bounds how far back a closing '>' looks for the start of a
// mention token, so stripping stays linear in the text length. Slack's
// "<@U…|name>" labels are far shorter.
const maxMentionLen = 512

// StripMention removes every mention of the given user ids ("<@U1>" and
// "<@U1|name>") from text and trims the result. Other mentions, channel links
// and URLs are kept as they are. Removing a mention between two spaces leaves
// one space.
func StripMention(text string, userIDs ...string) string {
	out, _ := stripMention(text, userIDs)
	return out
}

// HasMention reports whether text mentions any of the given user ids, in
// exactly the forms StripMention removes.
func HasMention(text string, userIDs ...string) bool {
	_, found := stripMention(text, userIDs)
	return found
}

func stripMention(text string, userIDs []string) (string, bool) {
	ids := nonEmpty(userIDs)
	if len(ids) == 0 || !strings.Contains(text, "<@") {
		return strings.TrimSpace(text), false
	}
	out := make([]byte, 0, len(text))
	found, justRemoved := false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if justRemoved {
			justRemoved = false
			if c == ' ' && (len(out) == 0 || out[len(out)-1] == ' ') {
				continue
			}
		}
		out = append(out, c)
		if c != '>' {
			continue
		}
		// Work on the output, not the input: a removal can join the text on
		// either side into a new mention ("<@<@U1>U1>"), which must go too.
		if start := mentionSuffix(out, ids); start >= 0 {
			out = out[:start]
			found, justRemoved = true, true
		}
	}
	return strings.TrimSpace(string(out)), found
}

// mentionSuffix returns where a mention of one of ids starts if b ends with
// one, or -1. b ends with '>'.
func mentionSuffix(b []byte, ids []string) int {
	lo := max(0, len(b)-maxMentionLen)
	start := bytes.LastIndexByte(b[lo:len(b)-1], '<')
	if start < 0 {
		return -1
	}
	start += lo
	token := b[start+1 : len(b)-1] // between '<' and '>'
	rest, ok := bytes.CutPrefix(token, []byte("@"))
	if !ok {
		return -1
	}
	for _, id := range ids {
		after, ok := bytes.CutPrefix(rest, []byte(id))
		if !ok {
			continue
		}
		if len(after) == 0 || after[0] == '|' {
			return start
		}
	}
	return -1
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
