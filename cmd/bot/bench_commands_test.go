package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// BenchmarkSlashCommandAck measures the slash-command path from a signed
// request to its ack: signature check, form parsing, policy, and recording
// the work in the embedded SQLite store (the part Slack waits for). The
// workers are not started, so the run itself is not part of the number.
// One request at a time: every ack pays a whole commit.
func BenchmarkSlashCommandAck(b *testing.B) {
	svc, cfg, _ := benchService(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ackOK(b, svc.handler, slashRequest(cfg.SigningSecret, strconv.Itoa(i)))
	}
}

// BenchmarkSlashCommandAckParallel is BenchmarkSlashCommandAck with 16
// requests in flight, as under load: concurrent acks share commits (group
// commit), so ns/op is the inverse of the ack throughput.
func BenchmarkSlashCommandAckParallel(b *testing.B) {
	svc, cfg, _ := benchService(b)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ackOK(b, svc.handler, slashRequest(cfg.SigningSecret, strconv.FormatInt(n.Add(1), 10)))
		}
	})
}

// slashRequest is a signed /agent prompt with a trigger id of its own.
func slashRequest(secret, trigger string) *http.Request {
	body := []byte(url.Values{
		"team_id": {bottest.Team}, "channel_id": {"CBENCH0001"}, "user_id": {"UBENCH0001"},
		"command": {"/agent"}, "text": {"summarize the incident"},
		"response_url": {"https://hooks.slack.com/commands/T/1/x"}, "trigger_id": {trigger + ".bench"},
	}.Encode())
	return signedBenchRequest(secret, "/slack/commands", "application/x-www-form-urlencoded", body)
}

func signedBenchRequest(secret, path, contentType string, body []byte) *http.Request {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", bottest.Sign(secret, ts, body))
	return req
}

// ackOK serves req and fails unless it was acked empty: the bot answers a
// slash command it could not record with a 200 carrying an apology.
func ackOK(b *testing.B, h http.Handler, req *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		b.Fatalf("ack %d: %s", rec.Code, rec.Body.String())
	}
}

// benchService wires the real service against the fakes without starting
// its workers, so a benchmark measures the path to the ack only.
func benchService(b *testing.B) (*service, Config, *slackfake.Server) {
	b.Helper()
	w, err := bottest.Start(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close() }) // no bot: nothing to report
	cfg := simConfig(b.TempDir())
	cfg.SlackAPIURL, cfg.BaseURL = w.Slack.APIURL(), w.RuntimeURL()
	svc, err := newService(b.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.store.Close() })
	return svc, cfg, w.Slack
}
