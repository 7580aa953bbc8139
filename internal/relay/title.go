package relay

import (
	"context"
	"log/slog"
	"strings"
	"unicode"
)

// maxTitleRunes keeps a thread title to what Slack's history list shows on
// one line.
const maxTitleRunes = 60

// threadTitle is an AI app thread's title made from its first prompt: the
// first line, spaces collapsed, cut at a word boundary with an ellipsis.
func threadTitle(prompt string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(prompt), "\n")
	line = strings.Join(strings.Fields(line), " ")
	runes := []rune(line)
	if len(runes) <= maxTitleRunes {
		return line
	}
	cut := maxTitleRunes - 1
	for i := cut; i > maxTitleRunes/2; i-- {
		if unicode.IsSpace(runes[i]) {
			cut = i
			break
		}
	}
	return strings.TrimRightFunc(string(runes[:cut]), unicode.IsSpace) + "…"
}

// assistantTitle names a new DM conversation after its first prompt. Slack
// refuses it in DMs that are not AI app threads; that is expected, so it is
// only logged at debug level.
func (r *Relay) assistantTitle(channel, threadTS, prompt string) {
	title := threadTitle(prompt)
	if title == "" {
		return
	}
	r.courtesy.do("title:"+channel+":"+threadTS, slog.LevelDebug, func(ctx context.Context) error {
		return r.cfg.Slack.SetAssistantTitle(ctx, channel, threadTS, title)
	})
}
