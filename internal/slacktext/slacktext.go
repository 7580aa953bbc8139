// Package slacktext is the one place where text becomes Slack text and back.
//
// Slack sends message text escaped (& < > as &amp; &lt; &gt;) with its own
// tokens in angle brackets: user mentions <@U…>, channel links <#C…>, links
// <https://…|label> and special mentions <!here>, <!channel>, <!everyone>,
// <!subteam^S…|@team>, <!date^…|…>. Text the bot posts must be escaped the
// same way, measured after escaping (Slack's limits count what it receives),
// and must never carry a live broadcast: anything that would notify a whole
// channel or user group is rendered inert, visible as text but without the
// ping. User mentions and channel links stay.
//
// Flow: Unescape what Slack sent once (for the agent), Escape plain text once
// (for mrkdwn), Defuse anything already in Slack syntax (the agent's
// Markdown, mrkdwn the bot built), measure with Len, cut with Truncate.
package slacktext

import (
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack/slackutilsx"
)

// wordJoiner is inserted after the "@" of a broadcast word: Slack shows
// "@here" but no longer reads it as a mention. It is invisible and one
// UTF-16 unit long.
const wordJoiner = "\u2060"

var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// Unescape turns text as Slack delivers it into plain text: &lt; &gt; &amp;
// become < > &. It runs once, left to right, so "&amp;lt;" becomes "&lt;".
func Unescape(s string) string { return unescaper.Replace(s) }

// Escape turns plain text into text Slack shows as written: & < > are
// escaped by slack-go (so no token can form) and, beyond what slack-go does,
// broadcast words like "@here" are made inert.
func Escape(s string) string { return defuseWords(slackutilsx.EscapeMessage(s)) }

// Defuse makes the broadcast tokens of text already in Slack syntax (mrkdwn,
// or the Markdown of markdown blocks and streams) inert, keeping everything
// else: <!here>, <!channel>, <!everyone>, <!subteam^…> (with or without a
// |label) and any other <!…> special mention except dates become their label
// or name after a "@" that cannot ping; "@here", "@channel" and "@everyone"
// written as words get the same treatment. <@U…>, <#C…>, links and
// <!date^…> are kept. Defuse is idempotent.
func Defuse(s string) string {
	if strings.Contains(s, "<!") {
		s = defuseTokens(s)
	}
	return defuseWords(s)
}

// defuseTokens rewrites every <!…> special mention but dates.
func defuseTokens(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "<!")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		end := strings.IndexAny(rest, "<>")
		if end < 0 || rest[end] != '>' {
			// No token: an unmatched "<!" (Slack would not parse it either).
			// Escape it so that a later ">" cannot complete it.
			b.WriteString("&lt;!")
			s = rest
			continue
		}
		body := rest[:end]
		s = rest[end+1:]
		if strings.HasPrefix(strings.ToLower(body), "date^") {
			b.WriteString("<!" + body + ">")
			continue
		}
		b.WriteString(inertMention(body))
	}
}

// inertMention renders the body of a <!…> token ("here", "subteam^S1|@devs")
// as visible, inert text.
func inertMention(body string) string {
	name, label, hasLabel := strings.Cut(body, "|")
	shown := strings.TrimPrefix(strings.TrimSpace(label), "@")
	if !hasLabel || shown == "" {
		shown = name
		if kind, id, ok := strings.Cut(name, "^"); ok {
			shown = kind + "^" + id // "subteam^S1": no name to show
		}
	}
	shown = slackutilsx.EscapeMessage(Unescape(shown))
	return "@" + wordJoiner + shown
}

// broadcastWords are the words Slack may read as channel-wide mentions.
var broadcastWords = []string{"here", "channel", "everyone"}

// defuseWords inserts a word joiner after the "@" of @here, @channel and
// @everyone (any case) when they stand as words.
func defuseWords(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' || (i > 0 && isWordByte(s[i-1])) {
			continue
		}
		if w := broadcastWordAt(s[i+1:]); w > 0 {
			b.WriteString(s[last : i+1])
			b.WriteString(wordJoiner)
			last = i + 1
			i += w
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// broadcastWordAt is the length of the broadcast word s starts with, or 0.
func broadcastWordAt(s string) int {
	for _, w := range broadcastWords {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) && (len(s) == len(w) || !isWordByte(s[len(w)])) {
			return len(w)
		}
	}
	return 0
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// LiveBroadcast returns the first live broadcast in text as Slack would read
// it (a <!here>-style token other than a date, or a broadcast word after "@"
// at a word start), or "" when there is none. Tests use it to check
// everything the bot posts.
func LiveBroadcast(text string) string {
	for s := text; ; {
		i := strings.Index(s, "<!")
		if i < 0 {
			break
		}
		rest := s[i+2:]
		end := strings.IndexAny(rest, "<>")
		if end >= 0 && rest[end] == '>' && !strings.HasPrefix(strings.ToLower(rest[:end]), "date^") {
			return s[i : i+2+end+1]
		}
		s = rest
	}
	for i := 0; i < len(text); i++ {
		if text[i] == '@' && (i == 0 || !isWordByte(text[i-1])) {
			if w := broadcastWordAt(text[i+1:]); w > 0 {
				return text[i : i+1+w]
			}
		}
	}
	return ""
}

// Len is the length of s as Slack counts it: UTF-16 code units. Invalid
// UTF-8 counts as the replacement character Slack would receive.
func Len(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

func runeUnits(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// Ellipsis marks a cut.
const Ellipsis = "…"

// Truncate shortens Slack text s to at most max units, ending with "…". It
// never cuts a rune (so never a surrogate pair), an entity (&amp;) or a
// token (<@U1>, <https://…|label>): the cut moves before them.
func Truncate(s string, max int) string {
	if Len(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	return s[:safeCut(s, max-1)] + Ellipsis
}

// Prefix is the longest start of s within max units that does not end in
// the middle of a rune, an entity or a token.
func Prefix(s string, max int) string {
	if Len(s) <= max {
		return s
	}
	return s[:safeCut(s, max)]
}

// safeCut is the largest byte offset within max units where s may be cut.
func safeCut(s string, max int) int {
	n, cut := 0, 0
	for i, r := range s {
		if n+runeUnits(r) > max {
			cut = i
			break
		}
		n += runeUnits(r)
		cut = i + utf8.RuneLen(r)
		if r == utf8.RuneError {
			cut = i + 1 // invalid byte: one byte, whatever RuneLen says
		}
	}
	if open := openTail(s[:cut]); open >= 0 {
		cut = open
	}
	return cut
}

// maxTokenLen bounds how far back an unclosed token is looked for: longer
// runs are not ones Slack would parse as one.
const maxTokenLen = 500

// maxEntityLen bounds an entity's name ("&amp;" is 5 bytes with its "&").
const maxEntityLen = 10

// openTail is where an entity or token that s ends inside begins, or -1:
// a "&" followed only by entity characters, or a "<" starting a mention,
// special mention or link with no ">" yet.
func openTail(s string) int {
	if i := strings.LastIndexByte(s, '&'); i >= 0 && len(s)-i <= maxEntityLen && isEntityBody(s[i+1:]) {
		return i
	}
	if i := strings.LastIndexByte(s, '<'); i >= 0 && len(s)-i <= maxTokenLen && !strings.ContainsAny(s[i:], ">\n") {
		if i+1 == len(s) || strings.IndexByte("@#!abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", s[i+1]) >= 0 {
			return i
		}
	}
	return -1
}

func isEntityBody(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '#' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// SplitHoldback is the length of s's head that is safe to send on its own
// when more text may follow (a stream): it excludes a trailing "<…" or
// "&…" that is not closed yet and a trailing "@word" that may still become
// "@here", so that text appended later cannot complete a token or a
// broadcast word across two writes.
func SplitHoldback(s string) int {
	cut := len(s)
	if open := openTail(s); open >= 0 {
		cut = open
	}
	// A trailing word after "@": "@he" may become "@here".
	j := cut
	for j > 0 && isWordByte(s[j-1]) {
		j--
	}
	if j > 0 && s[j-1] == '@' {
		cut = j - 1
	}
	return cut
}
