package slackpost

import (
	"strings"
	"sync"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"golang.org/x/text/width"
)

// gfm is the Markdown parser: CommonMark plus GitHub's tables,
// strikethrough, autolinks and task lists, which is what LLMs write. It is
// built once and only read afterwards (goldmark parsers are safe for
// concurrent use).
var gfm = sync.OnceValue(func() goldmark.Markdown {
	return goldmark.New(goldmark.WithExtensions(extension.GFM))
})

func parseMarkdown(src []byte) ast.Node {
	return gfm().Parser().Parse(text.NewReader(src))
}

// tablesToCode replaces every top-level GFM table in md with an aligned
// fixed-width code block: Slack's markdown block renders pipe tables poorly.
// Tables nested in lists or quotes are left alone (rewriting them would need
// their container's prefixes on every line).
func tablesToCode(md string) string {
	if !strings.Contains(md, "|") {
		return md // no table possible; skip parsing
	}
	src := []byte(md)
	doc := parseMarkdown(src)
	var b strings.Builder
	last := 0
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		t, ok := n.(*extast.Table)
		if !ok || t.FirstChild() == nil {
			continue
		}
		first, end := t.FirstChild().Pos(), t.LastChild().Pos()
		if first < 0 || end < 0 {
			continue
		}
		start := lineStart(md, first)
		stop := lineEnd(md, end)
		if start < last || stop < start {
			continue
		}
		b.WriteString(md[last:start])
		b.WriteString(fencedBlock(formatTable(t, src)))
		last = stop
	}
	if last == 0 {
		return md
	}
	b.WriteString(md[last:])
	return b.String()
}

// lineStart is the offset of the start of the line holding off.
func lineStart(s string, off int) int {
	return strings.LastIndexByte(s[:off], '\n') + 1
}

// lineEnd is the offset of the newline ending the line holding off (or the
// end of s).
func lineEnd(s string, off int) int {
	if i := strings.IndexByte(s[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(s)
}

// fencedBlock wraps lines in a code fence long enough not to be closed by
// any backtick run inside them. No trailing newline.
func fencedBlock(lines []string) string {
	longest := 0
	for _, l := range lines {
		run := 0
		for i := 0; i < len(l); i++ {
			if l[i] == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	return f + "\n" + strings.Join(lines, "\n") + "\n" + f
}

// formatTable lays a table out in aligned columns:
//
//	Name  | Age
//	------|----
//	Alice |  30
func formatTable(t *extast.Table, src []byte) []string {
	var rows [][]string
	cols := len(t.Alignments)
	for r := t.FirstChild(); r != nil; r = r.NextSibling() {
		var cells []string
		for c := r.FirstChild(); c != nil; c = c.NextSibling() {
			cells = append(cells, strings.TrimSpace(plainText(c, src)))
		}
		cols = max(cols, len(cells))
		rows = append(rows, cells)
	}
	widths := make([]int, cols)
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	lines := make([]string, 0, len(rows)+1)
	for ri, row := range rows {
		var b strings.Builder
		for i := range cols {
			if i > 0 {
				b.WriteString(" | ")
			}
			cell := ""
			if i < len(row) {
				cell = row[i]
			}
			align := extast.AlignNone
			if i < len(t.Alignments) {
				align = t.Alignments[i]
			}
			b.WriteString(pad(cell, widths[i], align))
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
		if ri == 0 { // the header rule
			rule := make([]string, cols)
			for i, w := range widths {
				rule[i] = strings.Repeat("-", max(w, 1))
			}
			lines = append(lines, strings.Join(rule, "-|-"))
		}
	}
	return lines
}

func pad(s string, w int, align extast.Alignment) string {
	gap := w - displayWidth(s)
	if gap <= 0 {
		return s
	}
	switch align {
	case extast.AlignRight:
		return strings.Repeat(" ", gap) + s
	case extast.AlignCenter:
		return strings.Repeat(" ", gap/2) + s + strings.Repeat(" ", gap-gap/2)
	default:
		return s + strings.Repeat(" ", gap)
	}
}

// displayWidth is how many monospace columns s takes: wide East Asian
// characters take two, combining marks none.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
		case width.LookupRune(r).Kind() == width.EastAsianWide ||
			width.LookupRune(r).Kind() == width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// plainText is the visible text of an inline subtree, without markup.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch n := n.(type) {
		case *ast.Text:
			b.Write(inlineText(n, src))
			if n.SoftLineBreak() || n.HardLineBreak() {
				b.WriteByte(' ')
			}
			return
		case *ast.String:
			b.Write(n.Value)
			return
		case *ast.CodeSpan:
			b.Write(codeSpanText(n, src))
			return
		case *ast.AutoLink:
			b.Write(n.Label(src))
			return
		case *ast.RawHTML:
			for i := 0; i < n.Segments.Len(); i++ {
				seg := n.Segments.At(i)
				b.Write(seg.Value(src))
			}
			return
		}
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// inlineText is a text node's content with Markdown backslash escapes and
// entity references resolved, as a Markdown renderer would show it.
func inlineText(n *ast.Text, src []byte) []byte {
	v := n.Segment.Value(src)
	if n.IsRaw() {
		return v
	}
	v = util.UnescapePunctuations(v)
	v = util.ResolveNumericReferences(v)
	return util.ResolveEntityNames(v)
}

// codeSpanText is the literal content of an inline code span.
func codeSpanText(n *ast.CodeSpan, src []byte) []byte {
	var b []byte
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b = append(b, c.Segment.Value(src)...)
		case *ast.String:
			b = append(b, c.Value...)
		}
	}
	return b
}
