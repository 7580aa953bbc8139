package slackpost

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

func TestToMrkdwn(t *testing.T) {
	tests := []struct {
		name, md, want string
	}{
		{"heading", "# Title **x**\n\nbody", "*Title x*\n\nbody"},
		{"bold and italic", "**b** __b2__ *i* _i2_ ~~s~~", "*b* *b2* _i_ _i2_ ~s~"},
		{"bold italic nesting", "***both***", "_*both*_"},
		{"link", "see [docs](https://x.com/a?b=1&c=2)", "see <https://x.com/a?b=1&amp;c=2|docs>"},
		{"link with pipe", "[a|b](https://x.com/p|q)", "<https://x.com/p%7Cq|a|b>"},
		{"relative link", "[file](docs/a.md)", "file (docs/a.md)"},
		{"image", "![chart](https://x.com/c.png)", "<https://x.com/c.png|chart>"},
		{"autolink", "<https://x.com>", "<https://x.com>"},
		{"escape", "1 < 2 && 3 > 2", "1 &lt; 2 &amp;&amp; 3 &gt; 2"},
		{"entities resolved then escaped", "a &amp; b &lt; c", "a &amp; b &lt; c"},
		{"mentions pass through, broadcasts inert", "hi <@U123ABC> in <#C1234|general> <!here> <!subteam^S12|@devs> <https://y.com|Y> & co",
			"hi <@U123ABC> in <#C1234|general> @\u2060here @\u2060devs <https://y.com|Y> &amp; co"},
		{"mention in bold", "**<@U123ABC>**", "*<@U123ABC>*"},
		{"not a mention", "<@nope> <#x>", "&lt;@nope&gt; &lt;#x&gt;"},
		{"inline code kept", "run `a<b> && **c**`", "run `a&lt;b&gt; &amp;&amp; **c**`"},
		{"fenced code drops language", "```go\nif a < b {\n}\n```", "```\nif a &lt; b {\n}\n```"},
		{"bullets nested", "- one\n- two\n  - nested *x*\n    - deeper", "• one\n• two\n   ◦ nested _x_\n      ▪ deeper"},
		{"ordered", "3. three\n4. four", "3. three\n4. four"},
		{"ordered nested in bullet", "- a\n  1. x\n  2. y", "• a\n   1. x\n   2. y"},
		{"task list", "- [x] done\n- [ ] todo", "• ☑ done\n• ☐ todo"},
		{"blockquote", "> quoted\n> more\n\nafter", "> quoted\n> more\n\nafter"},
		{"strike", "~~old~~ new", "~old~ new"},
		{"hard break html", "a<br>b", "a\nb"},
		{"raw html escaped", "<div>x</div>", "&lt;div&gt;x&lt;/div&gt;"},
		{"thematic break", "a\n\n---\n\nb", "a\n\n──────────\n\nb"},
		{"table", "| Name | Age |\n|:--|--:|\n| Alice | 30 |\n| Bob | 5 |",
			"```\nName  | Age\n------|----\nAlice |  30\nBob   |   5\n```"},
		{"escaped markdown", `\*not italic\*`, "*not italic*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ToMrkdwn(tt.md); got != tt.want {
				t.Errorf("ToMrkdwn(%q)\n got: %q\nwant: %q", tt.md, got, tt.want)
			}
		})
	}
}

func TestRenderAnswerShort(t *testing.T) {
	md := "Here is **the** answer with <@U123ABC>.\n\n```python\nprint('hi')\n```\n"
	msgs := RenderAnswer(md)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	mb, ok := msgs[0].Blocks[0].(*slack.MarkdownBlock)
	if !ok || mb.Type != slack.MBTMarkdown {
		t.Fatalf("block is %T, want a markdown block", msgs[0].Blocks[0])
	}
	if mb.Text != strings.TrimSpace(md) {
		t.Errorf("markdown = %q, want the answer itself", mb.Text)
	}
	if !strings.Contains(msgs[0].Text, "*the*") || !strings.Contains(msgs[0].Text, "<@U123ABC>") {
		t.Errorf("fallback text = %q, want mrkdwn with the mention", msgs[0].Text)
	}
	if got := RenderAnswer(" \n\t\n"); got != nil {
		t.Errorf("blank answer rendered as %d messages, want none", len(got))
	}
}

func TestRenderAnswerTable(t *testing.T) {
	md := "Results:\n\n| Tool | Calls | Share |\n|------|------:|:-----:|\n| search | 12 | 60% |\n| `code` | 8 | 40% |\n\nDone."
	msgs := RenderAnswer(md)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	got := msgs[0].Blocks[0].(*slack.MarkdownBlock).Text
	want := "Results:\n\n```\nTool   | Calls | Share\n-------|-------|------\nsearch |    12 |  60%\ncode   |     8 |  40%\n```\n\nDone."
	if got != want {
		t.Errorf("table rendered as\n%s\nwant\n%s", got, want)
	}
}

// checkParts asserts RenderAnswer's invariants for md.
func checkParts(t *testing.T, md string) []part {
	t.Helper()
	prepared := prepareAnswer(md)
	if !strings.Contains(md, "|") && prepared != trimEdges(md) {
		t.Fatalf("prepareAnswer changed a table-free answer")
	}
	parts := splitMarkdown(prepared, answerPartMax)
	var joined strings.Builder
	for i, p := range parts {
		joined.WriteString(p.body)
		text := p.markdown()
		if n := slackLen(text); n > answerPartMax {
			t.Fatalf("part %d is %d characters, limit %d", i, n, answerPartMax)
		}
		if !fencesBalanced(text) {
			t.Fatalf("part %d has unbalanced fences:\n%s", i, text)
		}
		if p.prefix != "" {
			if _, ok := parseFenceOpener(strings.TrimSuffix(p.prefix, "\n")); !ok {
				t.Fatalf("part %d prefix %q is not a fence opener", i, p.prefix)
			}
		}
		if p.suffix != "" {
			if _, ok := parseFenceOpener(strings.TrimSpace(p.suffix)); !ok { // a bare fence line
				t.Fatalf("part %d suffix %q is not a fence closer", i, p.suffix)
			}
		}
	}
	if joined.String() != prepared {
		t.Fatalf("characters lost: parts join to %d bytes, answer has %d", joined.Len(), len(prepared))
	}
	msgs := RenderAnswer(md)
	if len(msgs) != len(parts) {
		t.Fatalf("RenderAnswer gave %d messages for %d parts", len(msgs), len(parts))
	}
	for i, m := range msgs {
		if got := m.Blocks[0].(*slack.MarkdownBlock).Text; got != parts[i].markdown() {
			t.Fatalf("message %d markdown differs from its part", i)
		}
		if slackLen(m.Text) > fallbackTextMax || !utf8.ValidString(m.Text) {
			t.Fatalf("message %d fallback text too long or invalid (%d)", i, slackLen(m.Text))
		}
	}
	return parts
}

// longAnswer builds an answer of about n characters mixing prose, lists and
// code blocks of several languages.
func longAnswer(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "## Section %d\n\nSome prose about step %d, with **bold**, `code` and a [link](https://example.com/%d).\n", i, i, i)
		b.WriteString(strings.Repeat("More words to fill the paragraph nicely. ", 8) + "\n\n")
		fmt.Fprintf(&b, "- item %d\n  - nested\n\n", i)
		lang := []string{"go", "python", "bash"}[i%3]
		fmt.Fprintf(&b, "```%s\n", lang)
		for j := 0; j < 25; j++ {
			fmt.Fprintf(&b, "line_%d_%d = compute(%d)  # a code line\n\n", i, j, j) // blank lines inside code too
		}
		b.WriteString("```\n\n")
	}
	return b.String()
}

func TestRenderAnswerLongSplitsCleanly(t *testing.T) {
	md := longAnswer(60_000)
	parts := checkParts(t, md)
	if len(parts) < 6 {
		t.Fatalf("60k answer split into %d parts, want at least 6", len(parts))
	}
	for i, p := range parts {
		// Every code block here fits in a part: none may be split.
		if p.prefix != "" || p.suffix != "" {
			t.Errorf("part %d split a code block that fits in one message", i)
		}
	}
}

func TestRenderAnswerHugeCodeBlock(t *testing.T) {
	var b strings.Builder
	b.WriteString("Intro paragraph.\n\n```python\n")
	for i := 0; b.Len() < 30_000; i++ {
		fmt.Fprintf(&b, "print('line %d')\n", i)
	}
	b.WriteString("```\n\nOutro.")
	parts := checkParts(t, b.String())
	if len(parts) < 3 {
		t.Fatalf("got %d parts", len(parts))
	}
	if parts[0].body != "Intro paragraph.\n\n" {
		t.Errorf("part 0 = %q, want the intro alone (split before the code block)", parts[0].body)
	}
	for i := 1; i < len(parts); i++ {
		if i < len(parts)-1 && parts[i].suffix != "```" {
			t.Errorf("part %d suffix = %q, want the fence closed", i, parts[i].suffix)
		}
		if i > 1 && parts[i].prefix != "```python\n" {
			t.Errorf("part %d prefix = %q, want the fence reopened with its language", i, parts[i].prefix)
		}
	}
}

func TestRenderAnswerLongLineAndUnclosedFence(t *testing.T) {
	checkParts(t, strings.Repeat("word ", 5_000)+strings.Repeat("x", 20_000)+"```")
	checkParts(t, "```\n"+strings.Repeat("é𝄞", 9_000))                       // unclosed, astral characters
	checkParts(t, strings.Repeat("a\n\n", 8_000))                            // many tiny paragraphs
	checkParts(t, strings.Repeat("`", 20_000)+"\n"+strings.Repeat("~", 300)) // marker-like lines
}

func TestLiveMarkdownKeepsTheEnd(t *testing.T) {
	md := "start\n\n```go\n" + strings.Repeat("x := 1\n", 1_000) + "```\n\nthe end"
	got := liveMarkdown(md, liveTextMax)
	if slackLen(got) > liveTextMax {
		t.Fatalf("live text is %d characters", slackLen(got))
	}
	if !strings.HasPrefix(got, "…\n```go\n") || !strings.HasSuffix(got, "the end") {
		t.Errorf("live text starts %q… ends …%q", got[:20], got[len(got)-10:])
	}
	if !fencesBalanced(got) {
		t.Error("live text has unbalanced fences")
	}
	open := liveMarkdown("so far:\n```bash\nls", liveTextMax)
	if !strings.HasSuffix(open, "ls\n```") {
		t.Errorf("open fence not closed: %q", open)
	}
}

func FuzzRenderAnswer(f *testing.F) {
	for _, s := range []string{
		"", "hello", "# h\n\ntext\n\n```go\ncode\n```\n", "| a | b |\n|---|---|\n| 1 | 2 |",
		"- a\n  ```\n  code\n  ```\n", "```\nunclosed", "~~~~\n```\n~~~~", "> ```\n> q\n",
		strings.Repeat("p\n\n", 3000), "\r\n```\r\nx\r\n```\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		// Grow small inputs past the limit so splitting is exercised.
		if len(md) > 0 && len(md) < 2000 {
			md = strings.Repeat(md, 2+answerPartMax/len(md))
		}
		if len(md) > 30_000 {
			md = md[:30_000]
		}
		checkParts(t, md)
	})
}

func FuzzToMrkdwn(f *testing.F) {
	for _, s := range []string{
		"", "**b** _i_ ~~s~~ [l](http://x) <@U1> <!here>", "| a |\n|---|\n| \xff |",
		"- a\n  - b\n    1. c", "> q\n>> qq", "```\n<>&\n```", "\uE000 0\uE001", "<#C1|x> <!date^1^{d}|d>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		out := ToMrkdwn(md)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 output for %q", md)
		}
	})
}

func BenchmarkRenderAnswer(b *testing.B) {
	md := longAnswer(60_000) + "\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	b.SetBytes(int64(len(md)))
	b.ReportAllocs()
	for b.Loop() {
		_ = RenderAnswer(md)
	}
}
