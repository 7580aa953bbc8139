package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestMetricsExposeWhatOperatorsNeed(t *testing.T) {
	m := New()
	m.ObserveAck("/slack/events", 3*time.Millisecond, 200)
	m.EventRetried(2, "http_timeout")
	m.AppRateLimited()
	m.RunStarted()
	m.RunFinished("error")
	m.RunsInFlight(2)
	m.RunsInFlight(-1)
	m.LeaseTakeover()
	m.Approval("approve")
	m.DuplicateDelivery("message")

	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "chat.update") {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer slack.Close()
	client := &http.Client{Transport: m.SlackTransport(nil)}
	for _, method := range []string{"chat.postMessage", "chat.update"} {
		resp, err := client.Post(slack.URL+"/api/"+method, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := client.Get("http://127.0.0.1:1/api/auth.test"); err == nil {
		t.Fatal("expected a connection error")
	}

	out := scrape(t, m)
	for _, want := range []string{
		`slackbot_http_requests_total{route="/slack/events",status="200"} 1`,
		`slackbot_ack_seconds_count{route="/slack/events"} 1`,
		`slackbot_event_retries_total{num="2",reason="http_timeout"} 1`,
		`slackbot_app_rate_limited_total 1`,
		`slackbot_runs_started_total 1`,
		`slackbot_runs_finished_total{outcome="error"} 1`,
		`slackbot_runs_in_flight 1`,
		`slackbot_lease_takeovers_total 1`,
		`slackbot_approvals_total{decision="approve"} 1`,
		`slackbot_duplicate_deliveries_total{kind="message"} 1`,
		`slackbot_slack_api_calls_total{method="chat.postMessage",status="200"} 1`,
		`slackbot_slack_api_calls_total{method="chat.update",status="429"} 1`,
		`slackbot_slack_api_calls_total{method="auth.test",status="error"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
