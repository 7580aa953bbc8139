package slackpost

import "strings"

// Fenced code blocks are tracked line by line while splitting an answer, so a
// split never lands inside one unless it has to. The scanner is deliberately
// lenient about indentation (LLMs nest fences in list items at any depth) and
// deliberately strict about size: a fence line longer than maxFenceLine, or a
// marker longer than maxFenceMarker, is treated as plain text. That keeps the
// fence closers and re-openers a split adds small and bounded, whatever the
// input.
const (
	maxFenceIndent = 16
	maxFenceMarker = 64
	maxFenceLine   = 300
	maxFenceLang   = 32
)

// fence is an open fenced code block.
type fence struct {
	indent string // leading whitespace of the opening line
	char   byte   // '`' or '~'
	size   int    // marker length
	lang   string // first word of the info string (may be empty)
}

// closer is the line that closes f, without a trailing newline.
func (f fence) closer() string {
	return f.indent + strings.Repeat(string(f.char), f.size)
}

// opener is the line that reopens f in the next part, with its newline.
func (f fence) opener() string {
	sep := ""
	if strings.HasPrefix(f.lang, string(f.char)) {
		// "~~~" + "~x" would reopen a longer fence that the closer cannot end.
		sep = " "
	}
	return f.indent + strings.Repeat(string(f.char), f.size) + sep + f.lang + "\n"
}

// parseFenceOpener reports whether line (without its newline) opens a fence.
func parseFenceOpener(line string) (fence, bool) {
	if len(line) > maxFenceLine {
		return fence{}, false
	}
	rest := strings.TrimLeft(line, " \t")
	indent := line[:len(line)-len(rest)]
	if len(indent) > maxFenceIndent || len(rest) < 3 {
		return fence{}, false
	}
	c := rest[0]
	if c != '`' && c != '~' {
		return fence{}, false
	}
	n := 0
	for n < len(rest) && rest[n] == c {
		n++
	}
	if n < 3 || n > maxFenceMarker {
		return fence{}, false
	}
	info := strings.TrimSpace(rest[n:])
	if c == '`' && strings.ContainsRune(info, '`') {
		return fence{}, false // CommonMark: a backtick fence's info has no backticks
	}
	lang := info
	if i := strings.IndexAny(lang, " \t"); i >= 0 {
		lang = lang[:i]
	}
	if len(lang) > maxFenceLang {
		lang = ""
	}
	return fence{indent: indent, char: c, size: n, lang: lang}, true
}

// closes reports whether line (without its newline) closes f.
func (f fence) closes(line string) bool {
	if len(line) > maxFenceLine {
		return false
	}
	rest := strings.TrimLeft(line, " \t")
	if len(line)-len(rest) > maxFenceIndent {
		return false
	}
	n := 0
	for n < len(rest) && rest[n] == f.char {
		n++
	}
	return n >= f.size && strings.TrimSpace(rest[n:]) == ""
}

// fenceState follows fences through a document one line at a time.
type fenceState struct {
	open *fence
}

// step advances over one line (without its newline).
func (s *fenceState) step(line string) {
	if s.open != nil {
		if s.open.closes(line) {
			s.open = nil
		}
		return
	}
	if f, ok := parseFenceOpener(line); ok {
		s.open = &f
	}
}

// fencesBalanced reports whether every fence opened in md is closed in md.
func fencesBalanced(md string) bool { return openFenceAtEnd(md) == nil }

// openFenceAtEnd is the fence md leaves open, if any.
func openFenceAtEnd(md string) *fence {
	var s fenceState
	for line := range strings.Lines(md) {
		s.step(strings.TrimSuffix(line, "\n"))
	}
	return s.open
}
