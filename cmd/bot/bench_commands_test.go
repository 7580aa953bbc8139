package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackhandler"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// BenchmarkSlashCommandAck measures the slash-command path from a signed
// request to its ack: signature check, form parsing, policy, and recording
// the work in the embedded SQLite store (the part Slack waits for). The
// workers are not started, so the run itself is not part of the number.
func BenchmarkSlashCommandAck(b *testing.B) {
	svc, cfg, _ := benchService(b)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := []byte(url.Values{
			"team_id": {simTeam}, "channel_id": {"CBENCH0001"}, "user_id": {"UBENCH0001"},
			"command": {"/agent"}, "text": {"summarize the incident"},
			"response_url": {"https://hooks.slack.com/commands/T/1/x"}, "trigger_id": {strconv.Itoa(i) + ".bench"},
		}.Encode())
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", slackhandler.Sign(cfg.SigningSecret, ts, body))
		rec := httptest.NewRecorder()
		svc.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("ack %d: %s", rec.Code, rec.Body.String())
		}
	}
}

// benchService wires the real service against the fakes without starting
// its workers, so a benchmark measures the path to the ack only.
func benchService(b *testing.B) (*service, Config, *slackfake.Server) {
	b.Helper()
	runtime := agentstest.NewServer()
	b.Cleanup(runtime.Close)
	fake := slackfake.New()
	b.Cleanup(fake.Close)
	cfg := simConfig(b.TempDir())
	cfg.SlackAPIURL, cfg.BaseURL = fake.APIURL(), runtime.URL
	svc, err := newService(b.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.store.Close() })
	return svc, cfg, fake
}
