package main

import (
	"os"
	"strings"
	"testing"
)

// TestManifestsAgree: the Socket Mode manifest is the HTTP one without
// request URLs and with socket_mode_enabled, so scopes, events and the
// command cannot drift apart.
func TestManifestsAgree(t *testing.T) {
	read := func(name string) (kept []string, dropped []string) {
		t.Helper()
		b, err := os.ReadFile("../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			s := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(s, "#"):
			case strings.HasPrefix(s, "url:"), strings.HasPrefix(s, "request_url:"), strings.HasPrefix(s, "socket_mode_enabled:"):
				dropped = append(dropped, s)
			default:
				kept = append(kept, line)
			}
		}
		return kept, dropped
	}
	httpLines, httpOnly := read("manifest.yml")
	socketLines, socketOnly := read("manifest-socket.yml")
	if strings.Join(httpLines, "\n") != strings.Join(socketLines, "\n") {
		t.Errorf("manifest-socket.yml differs from manifest.yml beyond URLs and socket_mode_enabled")
	}
	if len(httpOnly) != 4 || httpOnly[3] != "socket_mode_enabled: false" {
		t.Errorf("manifest.yml: want three request URLs and socket mode off, got %q", httpOnly)
	}
	if len(socketOnly) != 1 || socketOnly[0] != "socket_mode_enabled: true" {
		t.Errorf("manifest-socket.yml: want no request URLs and socket mode on, got %q", socketOnly)
	}
}

// TestManifestScopes: the manifests grant the scopes of the Slack methods
// the bot calls (both manifests agree, see TestManifestsAgree).
func TestManifestScopes(t *testing.T) {
	b, err := os.ReadFile("../../manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			granted[strings.Fields(s)[0]] = true
		}
	}
	for scope, why := range map[string]string{
		"chat:write":       "replies, feedback buttons and Stop",
		"files:write":      "output files (files.getUploadURLExternal, files.completeUploadExternal)",
		"assistant:write":  "AI app prompts and thread titles",
		"files:read":       "files users share with a prompt (url_private_download)",
		"channels:history": "conversations.replies in public channels (thread context)",
		"groups:history":   "conversations.replies in private channels",
		"im:history":       "conversations.replies in DMs",
		"mpim:history":     "conversations.replies in group DMs",
	} {
		if !granted[scope] {
			t.Errorf("manifest.yml lacks %s, needed for %s", scope, why)
		}
	}
}

// TestManifestEvents: the manifests subscribe to every event the bot acts
// on; an event left out is one Slack never sends.
func TestManifestEvents(t *testing.T) {
	b, err := os.ReadFile("../../manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	subscribed := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		s := strings.TrimSpace(line)
		switch {
		case s == "bot_events:":
			in = true
		case in && strings.HasPrefix(s, "- "):
			subscribed[strings.Fields(strings.TrimPrefix(s, "- "))[0]] = true
		case in && s != "" && !strings.HasPrefix(s, "#"):
			in = false
		}
	}
	for event, why := range map[string]string{
		"app_mention":                      "mentions",
		"message.im":                       "DMs and AI app threads",
		"assistant_thread_started":         "AI app suggested prompts and context channel",
		"assistant_thread_context_changed": "AI app context channel in run metadata",
		"agent_session_stopped":            "Slack's own Stop in AI app threads",
	} {
		if !subscribed[event] {
			t.Errorf("manifest.yml does not subscribe to %s, needed for %s", event, why)
		}
	}
}
