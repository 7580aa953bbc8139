package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/slackhandler"
)

// BenchmarkEventPathAck measures an app_mention from Slack's signed
// request to its ack: signature check, envelope parsing, the bot's filters
// and mention stripping, then relay.Message against the embedded SQLite
// store (conversation lookup and binding, the job insert that deduplicates
// on (channel, ts), the event id record). The workers are not started, so
// no run is part of the number. The bot's own Slack identity is learned once
// at startup (auth.test), as in production.
func BenchmarkEventPathAck(b *testing.B) {
	svc, cfg, fake := benchService(b)

	// The request as Slack would send it; only ids and ts change per call.
	const envelope = `{"token":"unused","team_id":"%[1]s","api_app_id":"ASIM","type":"event_callback",` +
		`"event_id":"EvBENCH%[2]d","event_time":%[3]d,` +
		`"authorizations":[{"team_id":"%[1]s","user_id":"%[4]s","is_bot":true}],` +
		`"event":{"type":"app_mention","user":"UBENCH0001","channel":"CBENCH0001","ts":"%[5]s","event_ts":"%[5]s",` +
		`"text":"<@%[4]s> summarize the incident in <#CINCIDENT1|incidents>"}}`
	base := time.Now().Unix()
	lastTS := ""
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		lastTS = fmt.Sprintf("%d.%06d", base+int64(i/1_000_000), i%1_000_000)
		body := []byte(fmt.Sprintf(envelope, simTeam, i, base, fake.BotUserID(), lastTS))
		now := strconv.FormatInt(time.Now().Unix(), 10)
		req := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Slack-Request-Timestamp", now)
		req.Header.Set("X-Slack-Signature", slackhandler.Sign(cfg.SigningSecret, now, body))
		rec := httptest.NewRecorder()
		svc.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("ack %d: %s", rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	// The ack came after the work was recorded.
	if _, err := svc.store.Job(b.Context(), "msg:CBENCH0001:"+lastTS); err != nil {
		b.Fatalf("last mention not recorded: %v", err)
	}
}
