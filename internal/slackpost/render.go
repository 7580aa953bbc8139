// Package slackpost is the outgoing Slack side of the bot: it renders the
// agent's Markdown for Slack, posts and updates messages with rate-limit
// aware retries, and keeps one run's live reply up to date.
package slackpost

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// Limits, in Slack characters (UTF-16 code units, which is what Slack counts;
// a byte count would be needlessly strict for non-Latin text).
const (
	// answerPartMax bounds the markdown of one answer message. Slack allows
	// 12,000 characters across a message's markdown blocks, and an
	// undocumented cap rejects messages with around 13.2k characters of block
	// text in total; the margin leaves room for the plan kept above part 0.
	answerPartMax = 10_500
	// fallbackTextMax bounds a message's plain/mrkdwn fallback text.
	fallbackTextMax = 3_000
	// closerReserve is room kept in every part for a fence closer added at a
	// split: indentation, marker and a newline.
	closerReserve = maxFenceIndent + maxFenceMarker + 1
)

// Message is one Slack message: blocks, and a fallback text that Slack shows
// in notifications and where blocks cannot be displayed.
type Message struct {
	Text   string // plain/mrkdwn fallback for notifications
	Blocks []slack.Block
}

// RenderAnswer renders a final answer, written in standard Markdown, as one
// or more Slack messages built on markdown blocks. Answers too long for one
// message are split at paragraph boundaries, else at line boundaries, and
// inside a fenced code block only when that block alone is too long (the
// fence is then closed at the split and reopened, with its language, in the
// next part). GFM tables become aligned fixed-width code blocks. An answer
// with nothing but whitespace renders as no message at all.
func RenderAnswer(md string) []Message {
	parts := splitMarkdown(prepareAnswer(md), answerPartMax)
	if len(parts) == 0 {
		return nil
	}
	msgs := make([]Message, len(parts))
	for i, p := range parts {
		text := p.markdown()
		msgs[i] = Message{
			Text:   slacktext.Truncate(ToMrkdwn(text), fallbackTextMax),
			Blocks: []slack.Block{slack.NewMarkdownBlock("", text)},
		}
	}
	return msgs
}

// prepareAnswer is the text RenderAnswer splits: the answer without leading
// blank lines and trailing whitespace, with top-level tables converted and
// broadcast mentions made inert (before splitting, so lengths are measured
// on what Slack receives).
func prepareAnswer(md string) string {
	return tablesToCode(trimEdges(slacktext.Defuse(md)))
}

// trimEdges drops leading whitespace-only lines and trailing whitespace,
// which Slack would drop anyway and which would otherwise end up as
// empty-looking parts. Leading spaces of the first real line are kept: they
// can be meaningful (an indented code block).
func trimEdges(md string) string {
	md = strings.TrimRightFunc(md, unicode.IsSpace)
	for {
		i := strings.IndexByte(md, '\n')
		if i < 0 || strings.TrimSpace(md[:i]) != "" {
			return md
		}
		md = md[i+1:]
	}
}

// part is one message's worth of an answer: a slice of the prepared text
// (body) plus the fence opener/closer a split added around it.
type part struct {
	prefix, body, suffix string
}

func (p part) markdown() string { return p.prefix + p.body + p.suffix }

// cut priorities, best first.
const (
	cutInFence   = iota // a line boundary inside a fenced code block
	cutLine             // a line boundary outside fences
	cutParagraph        // after a blank line outside fences
)

// splitMarkdown splits md into parts of at most limit Slack characters each
// (prefix and suffix included). The bodies, concatenated, are exactly md.
func splitMarkdown(md string, limit int) []part {
	if strings.TrimSpace(md) == "" {
		return nil
	}
	doc := scanLines(md)
	var parts []part
	for s := 0; s < len(md); {
		open := doc.stateAt(s)
		prefix := ""
		if open != nil {
			prefix = open.opener()
		}
		avail := limit - slackLen(prefix) - closerReserve
		p := len(md)
		if doc.units(s, len(md)) > avail {
			p = doc.chooseCut(s, avail)
		}
		body := md[s:p]
		suffix := ""
		if f := doc.stateAt(p); f != nil {
			if !strings.HasSuffix(body, "\n") {
				suffix = "\n"
			}
			suffix += f.closer()
		}
		parts = append(parts, part{prefix: prefix, body: body, suffix: suffix})
		s = p
	}
	return parts
}

// lineDoc is md cut into lines, with the fence state before each line and a
// running count of Slack characters.
type lineDoc struct {
	md     string
	starts []int    // byte offset of each line
	before []*fence // fence open before each line (nil outside fences)
	blank  []bool   // line is whitespace only
	cum    []int    // cum[i] = Slack characters in md[:i], for rune starts i
	// inRune[i]: byte i continues a multi-byte rune, so no cut goes there.
	// Decoding decides, not the byte alone: a stray continuation byte of
	// invalid UTF-8 is a rune of its own, and a cut must be possible there.
	inRune []bool
}

func scanLines(md string) *lineDoc {
	d := &lineDoc{md: md, cum: make([]int, len(md)+1), inRune: make([]bool, len(md))}
	n := 0
	for i := 0; i < len(md); {
		r, size := utf8.DecodeRuneInString(md[i:])
		d.cum[i] = n
		n += runeUnits(r)
		for j := i + 1; j < i+size; j++ {
			d.cum[j], d.inRune[j] = n, true // keep cum monotonic
		}
		i += size
	}
	d.cum[len(md)] = n
	var st fenceState
	for off := 0; off < len(md); {
		line, rest, _ := strings.Cut(md[off:], "\n")
		d.starts = append(d.starts, off)
		d.before = append(d.before, st.open)
		d.blank = append(d.blank, strings.TrimSpace(line) == "")
		st.step(line)
		off = len(md) - len(rest)
		if rest == "" {
			break
		}
	}
	d.starts = append(d.starts, len(md)) // sentinel: end of text
	d.before = append(d.before, st.open)
	d.blank = append(d.blank, false)
	return d
}

// runeStart reports whether a cut may go before byte i.
func (d *lineDoc) runeStart(i int) bool { return i >= len(d.md) || !d.inRune[i] }

// units is the Slack length of md[from:to].
func (d *lineDoc) units(from, to int) int { return d.cum[to] - d.cum[from] }

// lineAt is the index of the line containing byte offset off.
func (d *lineDoc) lineAt(off int) int {
	lo, hi := 0, len(d.starts)-1
	for lo < hi { // last start <= off
		mid := (lo + hi + 1) / 2
		if d.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// stateAt is the fence open at byte offset off, which is a line start or a
// cut inside a line too long to be a fence line.
func (d *lineDoc) stateAt(off int) *fence {
	return d.before[d.lineAt(off)]
}

// priority of cutting at the start of line k (k > 0).
func (d *lineDoc) priority(k int) int {
	switch {
	case d.before[k] != nil:
		return cutInFence
	case d.blank[k-1]:
		return cutParagraph
	default:
		return cutLine
	}
}

// chooseCut picks where the part starting at s ends, given room for avail
// Slack characters.
func (d *lineDoc) chooseCut(s, avail int) int {
	e := d.reach(s, avail)
	first := d.lineAt(s) + 1
	last := d.lineAt(e) // line starts in (s, e] are lines first..last
	if d.starts[last] > e {
		last--
	}
	// A good boundary well into the window, then any boundary outside a
	// fence however early (a small part beats splitting a code block), then
	// a boundary inside a fence, then the middle of a very long line.
	minGood := d.cum[s] + avail/3
	for _, want := range []int{cutParagraph, cutLine} {
		for k := last; k >= first && d.cum[d.starts[k]] > minGood; k-- {
			if d.priority(k) == want {
				return d.starts[k]
			}
		}
	}
	for _, want := range []int{cutParagraph, cutLine, cutInFence} {
		for k := last; k >= first; k-- {
			if d.priority(k) == want {
				return d.starts[k]
			}
		}
	}
	return d.midLineCut(s, e, avail)
}

// reach is the furthest rune start e with md[s:e] within avail characters.
func (d *lineDoc) reach(s, avail int) int {
	target := d.cum[s] + avail
	lo, hi := s, len(d.md)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if d.cum[mid] <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for lo > s && !d.runeStart(lo) {
		lo--
	}
	return lo
}

// midLineCut cuts the line holding s, which runs past e. It prefers a space
// in the second half of the window, and always leaves a tail longer than any
// fence line, so neither piece can be mistaken for a fence.
func (d *lineDoc) midLineCut(s, e, avail int) int {
	k := d.lineAt(s)
	lineEnd := d.starts[k+1]
	if lineEnd > 0 && d.md[lineEnd-1] == '\n' {
		lineEnd--
	}
	p := min(e, lineEnd-maxFenceLine-1)
	if sp := strings.LastIndexAny(d.md[s:p], " \t"); sp >= 0 && d.units(s, s+sp+1) >= avail/2 {
		p = s + sp + 1
	}
	for p > s && !d.runeStart(p) {
		p--
	}
	if p <= s { // cannot happen for avail > maxFenceLine; never loop forever
		p = e
	}
	return p
}

// runeUnits is how many UTF-16 code units r takes.
func runeUnits(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// slackLen is the length of s as Slack counts it.
func slackLen(s string) int { return slacktext.Len(s) }
