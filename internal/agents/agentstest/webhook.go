package agentstest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// deliverWebhook POSTs a finished run (with its final values) to url, once,
// as the runtime does when a run carries `webhook`.
func (s *Server) deliverWebhook(url string, body map[string]any) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.notifyLocked()
		s.mu.Unlock()
	}()
	b, err := json.Marshal(body)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", s.webhookContentType())
	resp, err := s.webhookClient.Do(req)
	if err != nil {
		slog.Debug("agentstest: webhook delivery failed", "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// recordRejected keeps a run start or thread creation the auth layer turned
// away, so Requests shows every attempt.
func (s *Server) recordRejected(r *http.Request) {
	p := r.URL.Path
	if r.Method != http.MethodPost || !(strings.HasSuffix(p, "/threads") || strings.HasSuffix(p, "/runs") || strings.HasSuffix(p, "/runs/stream")) {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(r, body)
}

// webhookContentType is what the runtime labels its webhook body with:
// the JS Agent Server sends JSON as text/plain;charset=UTF-8 (observed on
// @langchain/langgraph-api 2.0.0).
func (s *Server) webhookContentType() string {
	if s.surface == AgentServer {
		return "text/plain;charset=UTF-8"
	}
	return "application/json"
}
