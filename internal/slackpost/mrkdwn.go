package slackpost

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	extast "github.com/yuin/goldmark/extension/ast"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// ToMrkdwn converts Markdown, as LLMs write it, to Slack's mrkdwn (for
// section blocks and fallback texts). It walks goldmark's syntax tree, so
// formatting inside code stays literal and nesting is handled properly.
// Slack tokens already in the text (<@U123>, <#C123|name>, <!date^…>,
// <https://x|label>) pass through unchanged, broadcast mentions (<!here>,
// @channel, …) are made inert, and every other &, < and > is escaped.
func ToMrkdwn(md string) string {
	md, tokens := protectTokens(md)
	src := []byte(md)
	r := &mrkdwnRenderer{src: src}
	out := r.blocks(parseMarkdown(src))
	return slacktext.Defuse(restoreTokens(strings.TrimRight(out, "\n"), tokens))
}

type mrkdwnRenderer struct {
	src []byte
	// styles already open around the current inline, so nested emphasis
	// does not emit markers Slack cannot nest.
	bold, italic, strike bool
	listDepth            int
	depth                int // container nesting; past maxNesting no prefixes are added
}

// maxNesting bounds the quote/list levels rendered with prefixes: deeper
// levels render flat, so pathological nesting costs linear, not quadratic,
// time.
const maxNesting = 16

// blocks renders the block children of a container, keeping the source's
// blank lines between blocks.
func (r *mrkdwnRenderer) blocks(parent ast.Node) string {
	var b strings.Builder
	for c := parent.FirstChild(); c != nil; c = c.NextSibling() {
		s := r.block(c)
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
			if _, table := c.(*extast.Table); table || c.HasBlankPreviousLines() {
				b.WriteString("\n")
			}
		}
		b.WriteString(s)
	}
	return b.String()
}

func (r *mrkdwnRenderer) block(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return r.inlines(n)
	case *ast.Heading:
		return r.styled(n, "*", &r.bold)
	case *ast.ThematicBreak:
		return "──────────"
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		return "```\n" + escapeMrkdwn(strings.TrimRight(linesText(n, r.src), "\n")) + "\n```"
	case *ast.HTMLBlock:
		s := linesText(n, r.src)
		if n.HasClosure() {
			s += string(n.ClosureLine.Value(r.src))
		}
		return escapeMrkdwn(strings.TrimRight(s, "\n"))
	case *ast.Blockquote:
		r.depth++
		defer func() { r.depth-- }()
		if r.depth > maxNesting {
			return r.blocks(n)
		}
		return prefixLines(r.blocks(n), "> ", ">")
	case *ast.List:
		return r.list(n)
	case *extast.Table:
		return "```\n" + escapeMrkdwn(strings.Join(formatTable(n, r.src), "\n")) + "\n```"
	default:
		if n.Type() == ast.TypeBlock {
			return r.blocks(n)
		}
		return r.inlines(n)
	}
}

var bullets = []string{"•", "◦", "▪"}

func (r *mrkdwnRenderer) list(l *ast.List) string {
	r.listDepth++
	r.depth++
	defer func() { r.listDepth--; r.depth-- }()
	var b strings.Builder
	num := l.Start
	for item := l.FirstChild(); item != nil; item = item.NextSibling() {
		marker := bullets[(r.listDepth-1)%len(bullets)] + " "
		if l.IsOrdered() {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		body := r.blocks(item)
		if b.Len() > 0 {
			b.WriteString("\n")
			if !l.IsTight && item.HasBlankPreviousLines() {
				b.WriteString("\n")
			}
		}
		// Continuation lines, nested lists included, line up under the
		// item's text.
		if r.depth > maxNesting {
			b.WriteString(marker + body)
			continue
		}
		indent := strings.Repeat(" ", len([]rune(marker))+1)
		b.WriteString(marker + strings.TrimPrefix(prefixLines(body, indent, ""), indent))
	}
	return b.String()
}

// prefixLines puts prefix before every line of s (emptyPrefix before empty
// lines).
func prefixLines(s, prefix, emptyPrefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = emptyPrefix
		} else {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// linesText is the raw text of a block's lines (code, HTML).
func linesText(n ast.Node, src []byte) string {
	var b strings.Builder
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		b.Write(seg.Value(src))
	}
	return b.String()
}

// inlines renders the inline children of n.
func (r *mrkdwnRenderer) inlines(n ast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		b.WriteString(r.inline(c))
	}
	return b.String()
}

// styled renders n's children between marker pair, unless that style is
// already open (Slack does not nest *…* inside *…*).
func (r *mrkdwnRenderer) styled(n ast.Node, marker string, open *bool) string {
	if *open {
		return r.inlines(n)
	}
	*open = true
	inner := r.inlines(n)
	*open = false
	if strings.TrimSpace(inner) == "" {
		return inner
	}
	// Slack wants markers hugging the text: move surrounding spaces out.
	lead := inner[:len(inner)-len(strings.TrimLeft(inner, " "))]
	trail := inner[len(strings.TrimRight(inner, " ")):]
	core := strings.TrimSpace(inner)
	if strings.Contains(core, "\n") {
		// Slack styles do not span lines: style each line on its own.
		lines := strings.Split(core, "\n")
		for i, l := range lines {
			if t := strings.TrimSpace(l); t != "" {
				lines[i] = strings.Replace(l, t, marker+t+marker, 1)
			}
		}
		return lead + strings.Join(lines, "\n") + trail
	}
	return lead + marker + core + marker + trail
}

func (r *mrkdwnRenderer) inline(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Text:
		s := escapeMrkdwn(string(inlineText(n, r.src)))
		if n.SoftLineBreak() || n.HardLineBreak() {
			s += "\n"
		}
		return s
	case *ast.String:
		return escapeMrkdwn(string(n.Value))
	case *ast.CodeSpan:
		return "`" + escapeMrkdwn(string(codeSpanText(n, r.src))) + "`"
	case *ast.Emphasis:
		if n.Level >= 2 {
			return r.styled(n, "*", &r.bold)
		}
		return r.styled(n, "_", &r.italic)
	case *extast.Strikethrough:
		return r.styled(n, "~", &r.strike)
	case *ast.Link:
		return slackLink(string(n.Destination), plainText(n, r.src))
	case *ast.Image:
		return slackLink(string(n.Destination), plainText(n, r.src))
	case *ast.AutoLink:
		url := string(n.URL(r.src))
		label := string(n.Label(r.src))
		if n.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(url), "mailto:") {
			url = "mailto:" + url
		}
		return slackLink(url, label)
	case *ast.RawHTML:
		var b strings.Builder
		for i := 0; i < n.Segments.Len(); i++ {
			seg := n.Segments.At(i)
			b.Write(seg.Value(r.src))
		}
		raw := b.String()
		switch strings.ToLower(strings.ReplaceAll(raw, " ", "")) {
		case "<br>", "<br/>":
			return "\n"
		}
		return escapeMrkdwn(raw)
	case *extast.TaskCheckBox:
		if n.IsChecked {
			return "☑ "
		}
		return "☐ "
	default:
		return r.inlines(n)
	}
}

// slackLink renders <url|label>. Links Slack cannot open (relative paths,
// anchors) keep only their label and show the target in parentheses.
func slackLink(url, label string) string {
	label = strings.TrimSpace(strings.ReplaceAll(label, "\n", " "))
	if url == "" {
		return escapeMrkdwn(label)
	}
	if !hasScheme(url) {
		if label == "" {
			return escapeMrkdwn(url)
		}
		return escapeMrkdwn(fmt.Sprintf("%s (%s)", label, url))
	}
	u := escapeURL(url)
	if label == "" || label == url || "mailto:"+label == url {
		return "<" + u + ">"
	}
	return "<" + u + "|" + escapeMrkdwn(label) + ">"
}

func hasScheme(url string) bool {
	i := strings.IndexByte(url, ':')
	if i <= 0 {
		return false
	}
	for _, c := range url[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// escapeURL makes a URL safe inside <…|…>: the characters that end the
// token are percent-encoded and & is escaped as Slack requires.
var urlEscaper = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20", "\n", "")

func escapeURL(url string) string { return urlEscaper.Replace(url) }

// escapeMrkdwn escapes Slack's control characters in text and makes
// broadcast words inert.
func escapeMrkdwn(s string) string { return slacktext.Escape(s) }

// Slack tokens are swapped for placeholders before parsing so that neither
// goldmark (which reads <!here> as HTML) nor escaping can alter them. The
// placeholders use private-use characters; any already in the input are
// replaced first so they cannot be confused with ours.
const (
	tokenOpen  = '\uE000'
	tokenClose = '\uE001'
)

func protectTokens(md string) (string, []string) {
	md = strings.ToValidUTF8(md, "\uFFFD")
	if strings.ContainsRune(md, tokenOpen) || strings.ContainsRune(md, tokenClose) {
		md = strings.NewReplacer(string(tokenOpen), "\uFFFD", string(tokenClose), "\uFFFD").Replace(md)
	}
	if !strings.Contains(md, "<") {
		return md, nil
	}
	var b strings.Builder
	var tokens []string
	for i := 0; i < len(md); {
		j := strings.IndexByte(md[i:], '<')
		if j < 0 {
			b.WriteString(md[i:])
			break
		}
		b.WriteString(md[i : i+j])
		i += j
		if n := slackTokenLen(md[i:]); n > 0 {
			b.WriteRune(tokenOpen)
			b.WriteString(strconv.Itoa(len(tokens)))
			b.WriteRune(tokenClose)
			tokens = append(tokens, md[i:i+n])
			i += n
			continue
		}
		b.WriteByte('<')
		i++
	}
	return b.String(), tokens
}

func restoreTokens(s string, tokens []string) string {
	if len(tokens) == 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexRune(s, tokenOpen)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+len(string(tokenOpen)):]
		j := strings.IndexRune(s, tokenClose)
		if j < 0 {
			continue
		}
		if k, err := strconv.Atoi(s[:j]); err == nil && k >= 0 && k < len(tokens) {
			b.WriteString(tokens[k])
			s = s[j+len(string(tokenClose)):]
		}
	}
}

// slackTokenLen is the length of the Slack token at the start of s, or 0:
// user and channel mentions (<@U123>, <#C123|general>), special mentions
// (<!here>, <!subteam^S1|@team>, <!date^…|…>) and labelled links
// (<https://x|label>).
func slackTokenLen(s string) int {
	end := strings.IndexAny(s[1:], "<>\n")
	if end <= 0 || s[1+end] != '>' || end > 500 {
		return 0
	}
	body := s[1 : 1+end]
	id, _, _ := strings.Cut(body, "|")
	ok := false
	switch body[0] {
	case '@':
		ok = isSlackID(id[1:], "UWB")
	case '#':
		ok = isSlackID(id[1:], "CGD")
	case '!':
		name, _, _ := strings.Cut(id[1:], "^")
		ok = name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyz") == ""
	default:
		lower := strings.ToLower(id)
		ok = strings.Contains(body, "|") && !strings.ContainsAny(id, " \t") &&
			(strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "mailto:"))
	}
	if !ok {
		return 0
	}
	return end + 2
}

func isSlackID(id, kinds string) bool {
	if len(id) < 2 || !strings.ContainsRune(kinds, rune(id[0])) {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
