package relay

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestThreadTitle(t *testing.T) {
	long := strings.Repeat("word ", 30)
	tests := []struct{ prompt, want string }{
		{"  Plan the launch  ", "Plan the launch"},
		{"Summarize this\nand more lines", "Summarize this"},
		{"tabs\tand   spaces", "tabs and spaces"},
		{"", ""},
		{long, strings.TrimSpace(strings.Repeat("word ", 12)) + "…"},
		{strings.Repeat("é", 80), strings.Repeat("é", 59) + "…"},
	}
	for _, tc := range tests {
		got := threadTitle(tc.prompt)
		if got != tc.want {
			t.Errorf("threadTitle(%q) = %q, want %q", tc.prompt, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); n > maxTitleRunes {
			t.Errorf("threadTitle(%q) has %d runes, more than %d", tc.prompt, n, maxTitleRunes)
		}
	}
}
