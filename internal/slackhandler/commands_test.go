package slackhandler

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot"
)

// slashForm is a slash command as Slack posts it (fields from Slack's docs).
func slashForm(text string) url.Values {
	return url.Values{
		"token":                 {"gIkuvaNzQIHg97ATvDxqgjtO"},
		"team_id":               {"T0001"},
		"team_domain":           {"example"},
		"enterprise_id":         {"E0001"},
		"enterprise_name":       {"Globular Construct Inc"},
		"channel_id":            {"C2147483705"},
		"channel_name":          {"test"},
		"user_id":               {"U2147483697"},
		"user_name":             {"Steve"},
		"command":               {"/agent"},
		"text":                  {text},
		"response_url":          {"https://hooks.slack.com/commands/1234/5678"},
		"trigger_id":            {"13345224609.738474920.8088930838d88f008e0"},
		"api_app_id":            {"A123456"},
		"is_enterprise_install": {"false"},
	}
}

func TestSlashCommand(t *testing.T) {
	wantCmd := func(text string) []slackbot.Command {
		return []slackbot.Command{{TeamID: "T0001", EnterpriseID: "E0001", ChannelID: "C2147483705", ChannelName: "test",
			UserID: "U2147483697", UserName: "Steve", Command: "/agent", Text: text,
			ResponseURL: "https://hooks.slack.com/commands/1234/5678", TriggerID: "13345224609.738474920.8088930838d88f008e0"}}
	}
	tests := []struct {
		name     string
		form     url.Values
		reply    slackbot.Reply
		wantBody string // "" means an empty body
		wantCmds []slackbot.Command
	}{
		{
			name:     "empty reply acks empty",
			form:     slashForm("summarize the incident"),
			wantCmds: wantCmd("summarize the incident"),
		},
		{
			name:     "ephemeral reply",
			form:     slashForm("  help  "),
			reply:    slackbot.Reply{Text: "Usage: /agent <prompt>"},
			wantBody: `{"response_type":"ephemeral","text":"Usage: /agent <prompt>"}`,
			wantCmds: wantCmd("help"),
		},
		{
			name:     "in-channel reply",
			form:     slashForm("status"),
			reply:    slackbot.Reply{Text: "Working on it", InChannel: true},
			wantBody: `{"response_type":"in_channel","text":"Working on it"}`,
			wantCmds: wantCmd("status"),
		},
		{
			name:     "text with mentions and unicode kept",
			form:     slashForm("ask <@U123|bob> about «π» & co"),
			wantCmds: wantCmd("ask <@U123|bob> about «π» & co"),
		},
		{
			name:     "ssl_check ping",
			form:     url.Values{"ssl_check": {"1"}, "token": {"x"}},
			wantCmds: nil,
		},
		{
			name: "another app's command",
			form: func() url.Values {
				f := slashForm("x")
				f.Set("command", "/weather")
				return f
			}(),
			wantBody: `{"response_type":"ephemeral","text":"Sorry, this app does not handle /weather."}`,
			wantCmds: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{reply: tt.reply}
			rec := serve(newTestRouter(d, nil), formRequest("/slack/commands", tt.form))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Body.String(); !jsonEqual(got, tt.wantBody) {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantBody != "" && rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("content type = %q", rec.Header().Get("Content-Type"))
			}
			if !reflect.DeepEqual(d.commands, tt.wantCmds) {
				t.Errorf("commands:\n got %+v\nwant %+v", d.commands, tt.wantCmds)
			}
		})
	}
}

func TestSlashCommandIgnoresQueryString(t *testing.T) {
	d := &fakeDispatcher{}
	req := formRequest("/slack/commands", slashForm("real"))
	req.URL.RawQuery = "text=smuggled&user_id=UADMIN"
	if rec := serve(newTestRouter(d, nil), req); rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if len(d.commands) != 1 || d.commands[0].Text != "real" || d.commands[0].UserID != "U2147483697" {
		t.Errorf("commands = %+v; the URL query must be ignored", d.commands)
	}
}

func TestMalformedSlashCommands(t *testing.T) {
	tests := []struct {
		name, contentType, body string
	}{
		{"bad escape", "application/x-www-form-urlencoded", "command=%2Fagent&text=%zz&user_id=U1&channel_id=C1"},
		{"JSON body", "application/json", `{"command":"/agent"}`},
		{"no content type", "", "command=%2Fagent&user_id=U1&channel_id=C1"},
		{"no command", "application/x-www-form-urlencoded", "user_id=U1&channel_id=C1&text=hi"},
		{"no user", "application/x-www-form-urlencoded", "command=%2Fagent&channel_id=C1&text=hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{}
			rec := serve(newTestRouter(d, nil), signedRequest("/slack/commands", tt.contentType, []byte(tt.body)))
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", rec.Code)
			}
			if d.calls() != 0 {
				t.Errorf("dispatcher called")
			}
		})
	}
}

func TestSlashCommandAcceptsCharsetParameter(t *testing.T) {
	d := &fakeDispatcher{}
	body := []byte(slashForm("hi").Encode())
	req := signedRequest("/slack/commands", "application/x-www-form-urlencoded; charset=utf-8", body)
	if rec := serve(newTestRouter(d, nil), req); rec.Code != http.StatusOK || len(d.commands) != 1 {
		t.Errorf("status %d, %d commands", rec.Code, len(d.commands))
	}
}

// jsonEqual compares two JSON documents, or two strings if either is empty.
func jsonEqual(a, b string) bool {
	if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
