package slacktext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUnescapeOnce(t *testing.T) {
	for in, want := range map[string]string{
		"a &lt;b&gt; &amp; c": "a <b> & c",
		"&amp;lt;":            "&lt;",
		"&lt;!here&gt;":       "<!here>",
		"plain":               "plain",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeAndUnescapeRoundTrip(t *testing.T) {
	for _, s := range []string{"a <b> & c", "&lt; is an entity", "<!here> <@U1>", ""} {
		if got := Unescape(Escape(s)); strings.ReplaceAll(got, wordJoiner, "") != s {
			t.Errorf("Unescape(Escape(%q)) = %q", s, got)
		}
	}
}

func TestDefuse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hey <!here>", "hey @\u2060here"},
		{"<!channel> and <!everyone>", "@\u2060channel and @\u2060everyone"},
		{"<!here|here> now", "@\u2060here now"},
		{"<!subteam^S0123|@devs> look", "@\u2060devs look"},
		{"<!subteam^S0123>", "@\u2060subteam^S0123"},
		{"@here @Channel @EVERYONE", "@\u2060here @\u2060Channel @\u2060EVERYONE"},
		{"mail me@here.com, @heresy, x@channel", "mail me@here.com, @heresy, x@channel"},
		{"keep <@U123> <#C123|general> <https://x.y|@here>", "keep <@U123> <#C123|general> <https://x.y|@\u2060here>"},
		{"<!date^1700000000^{date}|Nov 14>", "<!date^1700000000^{date}|Nov 14>"},
		{"unclosed <!here and later >", "unclosed @\u2060here and later "},
		{"unclosed <!here", "unclosed &lt;!here"},
		{"<!he<!here>", "&lt;!he@\u2060here"},
	} {
		got := Defuse(tc.in)
		if got != tc.want {
			t.Errorf("Defuse(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := Defuse(got); again != got {
			t.Errorf("Defuse not idempotent on %q: %q", got, again)
		}
		if live := LiveBroadcast(got); live != "" {
			t.Errorf("Defuse(%q) = %q still has live %q", tc.in, got, live)
		}
	}
}

func TestEscapeMakesEverythingInert(t *testing.T) {
	for _, s := range []string{"<!here>", "@channel please", "<!subteam^S1|@x>", "a > b < c"} {
		got := Escape(s)
		if live := LiveBroadcast(got); live != "" {
			t.Errorf("Escape(%q) = %q has live %q", s, got, live)
		}
		if strings.ContainsAny(got, "<>") {
			t.Errorf("Escape(%q) = %q keeps angle brackets", s, got)
		}
	}
}

func TestLen(t *testing.T) {
	for s, want := range map[string]int{"abc": 3, "é": 1, "😀": 2, "&amp;": 5, "\u2060": 1} {
		if got := Len(s); got != want {
			t.Errorf("Len(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTruncateNeverCutsEntitiesTokensOrPairs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"abcdef", 4, "abc…"},
		{"ab&amp;cd", 5, "ab…"},
		{"ab&amp;cd", 8, "ab&amp;…"},
		{"ab<@U12345>cd", 8, "ab…"},
		{"a😀b", 3, "a…"},
		{"a😀b", 4, "a😀b"},
		{"a < b and more", 6, "a < b…"},
		{"R&amp;D department", 8, "R&amp;D…"},
		{"R&amp;D department", 6, "R…"},
		{"short", 10, "short"},
	} {
		got := Truncate(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if Len(got) > tc.max {
			t.Errorf("Truncate(%q, %d) = %q is %d long", tc.in, tc.max, got, Len(got))
		}
	}
}

func TestSplitHoldback(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"hello <!he", "hello "},
		{"hello @he", "hello "},
		{"hello @here", "hello "},
		{"hello @here!", "hello @here!"},
		{"x &am", "x "},
		{"a < b", "a < b"},
		{"done.", "done."},
	} {
		if got := tc.in[:SplitHoldback(tc.in)]; got != tc.want {
			t.Errorf("SplitHoldback(%q) keeps %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSlackText(f *testing.F) {
	for _, s := range []string{"<!here>", "@everyone", "a&amp;b", "<!subteam^S1|@x>", "😀<@U1>", "<!date^1^{date}|x>", "<!<!here>>"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if !utf8.ValidString(s) {
			return
		}
		d := Defuse(s)
		if live := LiveBroadcast(d); live != "" {
			t.Fatalf("Defuse(%q) = %q has live %q", s, d, live)
		}
		if Defuse(d) != d {
			t.Fatalf("Defuse not idempotent: %q -> %q -> %q", s, d, Defuse(d))
		}
		e := Escape(s)
		if live := LiveBroadcast(e); live != "" {
			t.Fatalf("Escape(%q) = %q has live %q", s, e, live)
		}
		if max = max%200 + 1; max < 1 {
			max = -max + 1
		}
		tr := Truncate(e, max)
		if Len(tr) > max || !utf8.ValidString(tr) {
			t.Fatalf("Truncate(%q, %d) = %q (len %d)", e, max, tr, Len(tr))
		}
		if live := LiveBroadcast(Truncate(d, max)); live != "" {
			t.Fatalf("Truncate(Defuse) has live %q", live)
		}
		if h := SplitHoldback(d); h < 0 || h > len(d) {
			t.Fatalf("SplitHoldback out of range")
		}
	})
}
