package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/deepagents-slack/slackbot/internal/relay"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

const (
	maxOpsBody        = 64 << 10
	maxOpsTestTimeout = 30 * time.Minute
)

// opsRoutes registers POST /ops/test-runs when OPS_API_TOKEN is set.
func (s *service) opsRoutes(r *mux.Router, cfg Config) {
	if cfg.OpsAPIToken == "" {
		return
	}
	want := sha256.Sum256([]byte(cfg.OpsAPIToken))
	r.Handle("/ops/test-runs", bearer(want, s.log, http.HandlerFunc(s.serveTestRun))).Methods(http.MethodPost)
}

// bearer lets a request through only with "Authorization: Bearer <token>".
// Comparing digests in constant time leaks neither the token nor its length.
func bearer(want [32]byte, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			log.Warn("ops API request refused: missing or wrong bearer token", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="ops"`)
			writeOpsError(w, http.StatusUnauthorized, "missing or wrong bearer token (OPS_API_TOKEN)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// opsTestRun is the body of POST /ops/test-runs.
type opsTestRun struct {
	Channel string `json:"channel"`
	Prompt  string `json:"prompt"`
	Agent   string `json:"agent,omitempty"`
	Timeout string `json:"timeout,omitempty"` // Go duration, default 5m, at most 30m
}

// serveTestRun posts a test run and answers when it has ended: 200 with
// status "success", 502 "error" (the run failed), 409 "paused" (it waits
// for an approval), 504 "timeout" or "interrupted" (the service is
// shutting down); the body is `bot test-run --json`'s.
func (s *service) serveTestRun(w http.ResponseWriter, r *http.Request) {
	var body opsTestRun
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOpsBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeOpsError(w, http.StatusBadRequest, "body must be JSON like {\"channel\":\"C…\",\"prompt\":\"…\"}: "+err.Error())
		return
	}
	req := testRunRequest{Channel: body.Channel, Agent: body.Agent, Prompt: body.Prompt, Timeout: defaultTestRunTimeout}
	if body.Timeout != "" {
		d, err := time.ParseDuration(body.Timeout)
		if err != nil || d > maxOpsTestTimeout {
			writeOpsError(w, http.StatusBadRequest, fmt.Sprintf("timeout %q must be a duration of at most %s (e.g. 5m)", body.Timeout, maxOpsTestTimeout))
			return
		}
		req.Timeout = d
	}
	if err := req.validate(); err != nil {
		writeOpsError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The server's write timeout is for Slack's quick acks; this answer
	// comes when the run ends.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(req.Timeout + 30*time.Second))

	// Shutdown stops the wait: the run's lease is released for another
	// replica and the caller is told, instead of being cut off when the
	// shutdown timeout ends.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.shuttingDown, cancel)
	defer stop()
	out, err := s.testRun(ctx, req, "`POST /ops/test-runs`")
	switch {
	case errors.Is(err, relay.ErrChannelNotAllowed):
		writeOpsError(w, http.StatusForbidden, err.Error())
		return
	case err != nil && slackpost.IsNotInChannel(err):
		writeOpsError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case err != nil:
		s.log.Error("ops test run", "err", err)
		writeOpsError(w, http.StatusServiceUnavailable, "could not start the test run: "+err.Error())
		return
	}
	status := http.StatusOK
	switch out.Status {
	case relay.TestRunError:
		status = http.StatusBadGateway
	case relay.TestRunPaused:
		status = http.StatusConflict
	case relay.TestRunTimeout, relay.TestRunInterrupted:
		status = http.StatusGatewayTimeout
	}
	writeOpsJSON(w, status, out)
}

func writeOpsError(w http.ResponseWriter, status int, msg string) {
	writeOpsJSON(w, status, map[string]string{"error": msg})
}

func writeOpsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
