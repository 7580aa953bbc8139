package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// BenchmarkEventPathAck measures an app_mention from Slack's signed
// request to its ack: signature check, envelope parsing, the bot's filters
// and mention stripping, then relay.Message against the embedded SQLite
// store (the conversation lookup, then one write: the conversation, the job
// that deduplicates on (channel, ts) and the event id). The workers are not
// started, so no run is part of the number. The bot's own Slack identity is
// learned once at startup (auth.test), as in production. One request at a
// time: every ack pays a whole commit.
func BenchmarkEventPathAck(b *testing.B) {
	svc, cfg, fake := benchService(b)
	base := time.Now().Unix()
	lastTS := ""
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		lastTS = benchTS(base, i)
		ackOK(b, svc.handler, mentionRequest(cfg.SigningSecret, fake.BotUserID(), base, i, lastTS))
	}
	b.StopTimer()
	// The ack came after the work was recorded.
	if _, err := svc.store.Job(b.Context(), "msg:CBENCH0001:"+lastTS); err != nil {
		b.Fatalf("last mention not recorded: %v", err)
	}
}

// BenchmarkEventPathAckParallel is BenchmarkEventPathAck with 16 requests
// in flight, as under load: concurrent acks share commits (group commit), so
// ns/op is the inverse of the ack throughput.
func BenchmarkEventPathAckParallel(b *testing.B) {
	svc, cfg, fake := benchService(b)
	base := time.Now().Unix()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			ackOK(b, svc.handler, mentionRequest(cfg.SigningSecret, fake.BotUserID(), base, i, benchTS(base, i)))
		}
	})
	b.StopTimer()
	if _, err := svc.store.Job(b.Context(), "msg:CBENCH0001:"+benchTS(base, int(n.Load()))); err != nil {
		b.Fatalf("last mention not recorded: %v", err)
	}
}

func benchTS(base int64, i int) string {
	return fmt.Sprintf("%d.%06d", base+int64(i/1_000_000), i%1_000_000)
}

// mentionRequest is a signed app_mention as Slack would send it; only the
// ids and ts change per call.
func mentionRequest(secret, botUser string, base int64, i int, ts string) *http.Request {
	const envelope = `{"token":"unused","team_id":"%[1]s","api_app_id":"ASIM","type":"event_callback",` +
		`"event_id":"EvBENCH%[2]d","event_time":%[3]d,` +
		`"authorizations":[{"team_id":"%[1]s","user_id":"%[4]s","is_bot":true}],` +
		`"event":{"type":"app_mention","user":"UBENCH0001","channel":"CBENCH0001","ts":"%[5]s","event_ts":"%[5]s",` +
		`"text":"<@%[4]s> summarize the incident in <#CINCIDENT1|incidents>"}}`
	body := []byte(fmt.Sprintf(envelope, bottest.Team, i, base, botUser, ts))
	return signedBenchRequest(secret, "/slack/events", "application/json", body)
}
