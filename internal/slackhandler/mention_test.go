package slackhandler

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStripMention(t *testing.T) {
	tests := []struct {
		name, text, want string
		mentioned        bool
	}{
		{"leading mention", "<@UBOT> summarize this thread", "summarize this thread", true},
		{"mention with label", "<@UBOT|agent> hi", "hi", true},
		{"mention in the middle", "hey <@UBOT> what's up", "hey what's up", true},
		{"trailing mention", "thanks <@UBOT>", "thanks", true},
		{"mention only", "  <@UBOT>  ", "", true},
		{"two mentions", "<@UBOT> ask <@UBOT> twice", "ask twice", true},
		{"adjacent mentions", "<@UBOT><@UBOT>go", "go", true},
		{"other users kept", "<@UBOT> ping <@U123> and <@U456|ann>", "ping <@U123> and <@U456|ann>", true},
		{"channel link kept", "<@UBOT> post in <#C123|general>", "post in <#C123|general>", true},
		{"url kept", "<@UBOT> read <https://example.com|this>", "read <https://example.com|this>", true},
		{"longer id is another user", "<@UBOTX> hi", "<@UBOTX> hi", false},
		{"prefix id is another user", "<@UBO> hi", "<@UBO> hi", false},
		{"unterminated", "<@UBOT hi", "<@UBOT hi", false},
		{"no mention", "  just text ", "just text", false},
		{"nested mention rebuilt by removal", "<@<@UBOT>UBOT> x", "x", true},
		{"newlines kept", "<@UBOT>\nline one\nline two", "line one\nline two", true},
		{"escaped angle brackets kept", "a &lt;@UBOT&gt; b", "a &lt;@UBOT&gt; b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StripMention(tt.text, "UBOT"); got != tt.want {
				t.Errorf("StripMention(%q) = %q, want %q", tt.text, got, tt.want)
			}
			if got := HasMention(tt.text, "UBOT"); got != tt.mentioned {
				t.Errorf("HasMention(%q) = %v, want %v", tt.text, got, tt.mentioned)
			}
		})
	}
}

func TestStripMentionSeveralIDs(t *testing.T) {
	got := StripMention("<@UONE> and <@UTWO|b> and <@UTHREE>", "UONE", "", "UTWO")
	if want := "and and <@UTHREE>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := StripMention(" <@UONE> ", ""); got != "<@UONE>" {
		t.Errorf("empty id must strip nothing, got %q", got)
	}
}

// FuzzStripMention: no panic; the result never contains a bot mention, is
// valid UTF-8 when the input is, is a fixed point, and equals the trimmed
// input when the input has no mention of the bot.
func FuzzStripMention(f *testing.F) {
	for _, s := range []string{
		"<@UBOT> hi", "<@UBOT|name> hi", "a <@UBOT> b", "<@<@UBOT>UBOT>", "<@UBOT", "<@U1> <#C1|x>",
		"<<@UBOT>@UBOT>", "<@UBOT|<@UBOT>>", "", "  ", "héllo <@UBOT> wörld", "<@UBOT>\t<@UBOT>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := StripMention(text, "UBOT")
		if strings.Contains(got, "<@UBOT>") {
			t.Fatalf("StripMention(%q) = %q still mentions the bot", text, got)
		}
		if HasMention(got, "UBOT") {
			t.Fatalf("StripMention(%q) = %q: HasMention still true", text, got)
		}
		if again := StripMention(got, "UBOT"); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", text, got, again)
		}
		if utf8.ValidString(text) && !utf8.ValidString(got) {
			t.Fatalf("StripMention(%q) = %q is not valid UTF-8", text, got)
		}
		if !HasMention(text, "UBOT") && got != strings.TrimSpace(text) {
			t.Fatalf("text without a mention changed: %q -> %q", text, got)
		}
		if len(got) > len(text) {
			t.Fatalf("output grew: %q -> %q", text, got)
		}
	})
}
