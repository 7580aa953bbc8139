package slackfake

import (
	"fmt"
	"strings"
)

// Transcript renders a channel as a person reading it would see it: top-level messages
// in order, each followed by its thread replies indented, with who posted (the bot is
// marked "(app)"), reactions, buttons, and whether a message was edited or is still
// streaming. Replies whose root does not exist are listed at the end. Ephemeral
// messages are not part of the channel and are not shown.
//
//	#C0TEAM
//	alice: summarise yesterday's incident
//	  [:eyes:]
//	    ↳ Deep Agent (app): Here is the summary:
//	        - the deploy failed
//	      (edited)
func (s *Server) Transcript(channel string) string {
	msgs := s.Messages(channel)
	s.mu.Lock()
	names := make(map[string]string, len(s.names))
	for k, v := range s.names {
		names[k] = v
	}
	s.mu.Unlock()

	t := transcript{names: names, botUser: s.cfg.userID}
	fmt.Fprintf(&t.b, "#%s\n", channel)
	if len(msgs) == 0 {
		t.b.WriteString("(no messages)\n")
		return t.b.String()
	}

	exists := make(map[string]bool, len(msgs))
	replies := map[string][]Message{}
	for _, m := range msgs {
		exists[m.TS] = true
	}
	var roots []Message
	var orphans []string // thread roots that do not exist, in first-reply order
	for _, m := range msgs {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			roots = append(roots, m)
			continue
		}
		if !exists[m.ThreadTS] && replies[m.ThreadTS] == nil {
			orphans = append(orphans, m.ThreadTS)
		}
		replies[m.ThreadTS] = append(replies[m.ThreadTS], m)
	}
	for _, root := range roots {
		t.message(root, "", "  ")
		for _, r := range replies[root.TS] {
			t.message(r, "    ↳ ", "        ")
		}
	}
	for _, ts := range orphans {
		fmt.Fprintf(&t.b, "(thread %s, root message not found)\n", ts)
		for _, r := range replies[ts] {
			t.message(r, "    ↳ ", "        ")
		}
	}
	return t.b.String()
}

type transcript struct {
	b       strings.Builder
	names   map[string]string
	botUser string
}

// message writes one message: the first line after the author, further lines and
// annotations indented by more.
func (t *transcript) message(m Message, first, more string) {
	lines := strings.Split(strings.TrimRight(m.Rendered, "\n"), "\n")
	fmt.Fprintf(&t.b, "%s%s: %s\n", first, t.author(m), lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(&t.b, "%s%s\n", more, l)
	}
	if len(m.Files) > 0 {
		fmt.Fprintf(&t.b, "%s[file: %s]\n", more, strings.Join(m.Files, "] [file: "))
	}
	if len(m.Buttons) > 0 {
		fmt.Fprintf(&t.b, "%s[%s]\n", more, strings.Join(m.Buttons, "] ["))
	}
	var notes []string
	if m.Updates > 0 {
		notes = append(notes, "edited")
	}
	if m.Streaming {
		notes = append(notes, "streaming…")
	}
	if len(notes) > 0 {
		fmt.Fprintf(&t.b, "%s(%s)\n", more, strings.Join(notes, ", "))
	}
	if len(m.Reactions) > 0 {
		fmt.Fprintf(&t.b, "%s[:%s:]\n", more, strings.Join(m.Reactions, ": :"))
	}
}

func (t *transcript) author(m Message) string {
	name := t.names[m.User]
	if m.IsBot() {
		if name == "" {
			name = "bot"
		}
		return name + " (app)"
	}
	if name == "" {
		name = m.User
	}
	return name
}
