package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
)

// TestMistypedDatabaseURLNeverPrintsThePassword: a DATABASE_URL of an
// unknown scheme is refused at startup with a clear error, and neither the
// error nor anything the service writes contains the password.
func TestMistypedDatabaseURLNeverPrintsThePassword(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, dsn := range []string{
		"pgsql://bot:Sup3r-Secret-pw@db.internal:5432/slackbot",
		"postgress://bot:Sup3r-Secret-pw@db.internal/slackbot?sslmode=require",
		"pgsql://bot@db.internal/slackbot?password=Sup3r-Secret-pw",
	} {
		env := validEnv()
		env["DATABASE_URL"] = dsn
		var out bytes.Buffer
		err := run(context.Background(), []string{"serve"}, envOf(env), &out)
		if err == nil {
			t.Fatalf("serve with a mistyped DATABASE_URL started")
		}
		msg := err.Error() + out.String()
		if strings.Contains(msg, "Sup3r-Secret-pw") {
			t.Errorf("the password is printed: %s", msg)
		}
		if !strings.Contains(msg, "DATABASE_URL") || !strings.Contains(msg, "unknown scheme") {
			t.Errorf("error %q does not say DATABASE_URL has an unknown scheme", msg)
		}
	}
}

func TestLoadConfigStuckSettings(t *testing.T) {
	c, err := loadConfig(envOf(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != 30*24*time.Hour || c.StreamIdleTimeout != 2*time.Minute || c.MaxRunAge != 2*time.Hour || c.MetricsAddr != "" {
		t.Errorf("defaults: retention %v, idle %v, max age %v, metrics %q", c.Retention, c.StreamIdleTimeout, c.MaxRunAge, c.MetricsAddr)
	}
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"RETENTION", "24h", true},
		{"RETENTION", "1h", true},
		{"RETENTION", "10m", false}, // shorter than Slack's retries may need
		{"RETENTION", "forever", false},
		{"STREAM_IDLE_TIMEOUT", "45s", true},
		{"STREAM_IDLE_TIMEOUT", "0s", false},
		{"MAX_RUN_AGE", "6h", true},
		{"MAX_RUN_AGE", "10s", false},
		{"METRICS_ADDR", "127.0.0.1:9090", true},
		{"METRICS_ADDR", ":9090", true},
		{"METRICS_ADDR", "9090", false},
	}
	for _, tc := range tests {
		env := validEnv()
		env[tc.name] = tc.value
		_, err := loadConfig(envOf(env))
		if tc.ok && err != nil {
			t.Errorf("%s=%q: %v", tc.name, tc.value, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.name)) {
			t.Errorf("%s=%q: err = %v; want an error naming %s", tc.name, tc.value, err, tc.name)
		}
	}
}

// TestMetricsOnSeparateListener: with METRICS_ADDR set, /metrics is served
// there and no longer on the public port.
func TestMetricsOnSeparateListener(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	e := newTestEnv(t, agentstest.Echo(), func(c *Config) { c.MetricsAddr = addr }, nil)
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("http://" + addr + "/metrics"); code != http.StatusOK || !strings.Contains(body, "slackbot_runs_started_total") {
		t.Errorf("metrics listener: %d, body has the bot's metrics: %v", code, strings.Contains(body, "slackbot_"))
	}
	if code, _ := get(e.URL + "/metrics"); code != http.StatusNotFound {
		t.Errorf("public port /metrics = %d; want 404", code)
	}
}
