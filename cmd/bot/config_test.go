package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		"SLACK_SIGNING_SECRET": "s3cr3t-signing",
		"SLACK_BOT_TOKEN":      "xoxb-123-456-abc",
		"LANGSMITH_API_KEY":    "lsv2_pt_secretkey",
		"AGENT_ID":             "11111111-1111-1111-1111-111111111111",
	}
}

func TestLoadConfigDefaultsAndLists(t *testing.T) {
	env := validEnv()
	env["CHANNEL_AGENTS"] = "C123:22222222-2222-2222-2222-222222222222, G456:research-agent"
	env["HEADLESS_CHANNELS"] = "CALERTS,C999"
	env["TEST_RUN_CHANNELS"] = "CTEST1"
	env["OPS_USERS"] = "U1OPS,W2OPS"
	env["SLACK_API_URL"] = "https://slack-gov.com/api"
	c, err := loadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.SlashCommand != "/agent" || c.DatabaseURL != "deepagents-slack.db" ||
		c.BaseURL != "https://api.smith.langchain.com/v1/deepagents" || !c.Reactions || !c.Streaming {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.SlackAPIURL != "https://slack-gov.com/api/" {
		t.Errorf("SlackAPIURL = %q, want a trailing slash added", c.SlackAPIURL)
	}
	if c.Policy.AgentFor("C123") != "22222222-2222-2222-2222-222222222222" || c.Policy.AgentFor("G456") != "research-agent" ||
		c.Policy.AgentFor("COTHER") != env["AGENT_ID"] {
		t.Errorf("channel agents wrong: %+v", c.Policy.ChannelAgents)
	}
	if !c.Policy.HeadlessChannels["CALERTS"] || !c.Policy.TestRunChannels["CTEST1"] || !c.Policy.IsOps("W2OPS") {
		t.Errorf("policy lists wrong: %+v", c.Policy)
	}
}

// TestLoadConfigNamesEveryProblem: one message names every bad setting and
// never shows a secret.
func TestLoadConfigNamesEveryProblem(t *testing.T) {
	env := map[string]string{
		"SLACK_BOT_TOKEN":     "xoxp-user-token-secret",
		"CHANNEL_AGENTS":      "C123,nochannel:agent,C456:",
		"HEADLESS_CHANNELS":   "general",
		"OPS_USERS":           "bob",
		"PORT":                "eighty",
		"MAX_FOLLOWED_RUNS":   "0",
		"REACTIONS":           "sometimes",
		"SLASH_COMMAND":       "agent",
		"DEEPAGENTS_BASE_URL": "ftp://example.com",
		"LOG_LEVEL":           "loud",
	}
	_, err := loadConfig(envOf(env))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		"SLACK_SIGNING_SECRET is required", "LANGSMITH_API_KEY is required", "AGENT_ID is required",
		"SLACK_BOT_TOKEN must be a bot token",
		`CHANNEL_AGENTS entry "C123"`, `CHANNEL_AGENTS entry "nochannel:agent"`, `CHANNEL_AGENTS entry "C456:"`,
		`HEADLESS_CHANNELS entry "general"`, `OPS_USERS entry "bob"`, `PORT "eighty"`, `MAX_FOLLOWED_RUNS "0"`,
		`REACTIONS "sometimes"`, `SLASH_COMMAND "agent"`, "DEEPAGENTS_BASE_URL", `LOG_LEVEL "loud"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "xoxp-user-token-secret") {
		t.Errorf("error leaks the token:\n%s", msg)
	}
}

func TestRunRejectsBadConfigAndUnknownCommands(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve"}, envOf(map[string]string{}), &out)
	if err == nil || !strings.Contains(err.Error(), "SLACK_SIGNING_SECRET is required") {
		t.Errorf("serve with no settings: %v", err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, envOf(nil), &out); err == nil {
		t.Error("unknown command accepted")
	}
	out.Reset()
	if err := run(context.Background(), []string{"settings"}, envOf(nil), &out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SLACK_SIGNING_SECRET", "CHANNEL_AGENTS", "DATABASE_URL", "SLASH_COMMAND"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("settings output lacks %s", name)
		}
	}
}

// TestDemoRuns runs the demo as a user would and checks the transcript.
func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole demo, about 15 s: slow test; skipped under -short")
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"demo"}, envOf(nil), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"What Slack shows", "Here is what I found for", "Only ops users can post test runs",
		"agent configured for this channel was not found", "The run failed", "Approved by",
		"keep that in mind", "test_run=true", "headless=true",
		"$ bot test-run --channel COPSTEST01", "exit status 0", "Test run from `bot test-run`",
		"file shared in the thread: /outputs/weekly-report.md", "user_score=1", "Stopped by <@UBEN000001>",
		"can stop it",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestLoadConfigRuntime(t *testing.T) {
	tests := []struct {
		name        string
		set         map[string]string
		unset       []string
		wantRuntime string
		subgraphs   bool
		wantErr     string
	}{
		{name: "default is managed without subgraphs", wantRuntime: "managed"},
		{name: "agent server without an API key", set: map[string]string{"AGENT_RUNTIME": "agent-server", "DEEPAGENTS_BASE_URL": "http://localhost:2024", "AGENT_ID": "agent"},
			unset: []string{"LANGSMITH_API_KEY"}, wantRuntime: "agent-server"},
		{name: "subgraphs on request", set: map[string]string{"STREAM_SUBGRAPHS": "true"}, wantRuntime: "managed", subgraphs: true},
		{name: "managed needs a key", unset: []string{"LANGSMITH_API_KEY"}, wantErr: "LANGSMITH_API_KEY is required"},
		{name: "unknown runtime", set: map[string]string{"AGENT_RUNTIME": "langserve"}, wantErr: `AGENT_RUNTIME "langserve" must be managed or agent-server`},
		{name: "bad subgraphs flag", set: map[string]string{"STREAM_SUBGRAPHS": "sometimes"}, wantErr: "STREAM_SUBGRAPHS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.set {
				env[k] = v
			}
			for _, k := range tt.unset {
				delete(env, k)
			}
			c, err := loadConfig(envOf(env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Runtime.String() != tt.wantRuntime || c.StreamSubgraphs != tt.subgraphs {
				t.Errorf("runtime %s subgraphs %v", c.Runtime, c.StreamSubgraphs)
			}
		})
	}
}

// Following runs has no worker cap any more: MAX_FOLLOWED_RUNS is a safety
// limit, WORKERS is accepted but ignored with a warning, and h2c is only
// for a cleartext runtime URL.
func TestLoadConfigFollowedRunsAndH2C(t *testing.T) {
	tests := []struct {
		name           string
		set            map[string]string
		wantErr        string
		wantMax        int
		wantH2C        bool
		wantDeprecated bool
	}{
		{name: "defaults", wantMax: 20000},
		{name: "limit", set: map[string]string{"MAX_FOLLOWED_RUNS": "500"}, wantMax: 500},
		{name: "old WORKERS", set: map[string]string{"WORKERS": "32"}, wantMax: 20000, wantDeprecated: true},
		{name: "bad limit", set: map[string]string{"MAX_FOLLOWED_RUNS": "lots"}, wantErr: `MAX_FOLLOWED_RUNS "lots"`},
		{name: "h2c", set: map[string]string{"DEEPAGENTS_H2C": "true", "DEEPAGENTS_BASE_URL": "http://runtime:8123"}, wantMax: 20000, wantH2C: true},
		{name: "h2c over https", set: map[string]string{"DEEPAGENTS_H2C": "true"}, wantErr: "DEEPAGENTS_H2C is for an http://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tc.set {
				env[k] = v
			}
			c, err := loadConfig(envOf(env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxFollowedRuns != tc.wantMax || c.H2C != tc.wantH2C || (len(c.Deprecated) > 0) != tc.wantDeprecated {
				t.Errorf("MaxFollowedRuns %d, H2C %v, Deprecated %q; want %d, %v, deprecated %v",
					c.MaxFollowedRuns, c.H2C, c.Deprecated, tc.wantMax, tc.wantH2C, tc.wantDeprecated)
			}
		})
	}
}
