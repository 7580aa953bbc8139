package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/mux"
)

// webhookHub wakes the worker waiting for a run's completion webhook.
type webhookHub struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

func newWebhookHub() *webhookHub { return &webhookHub{waiters: map[string]chan struct{}{}} }

func (h *webhookHub) subscribe(jobID string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiters[jobID]
	if !ok {
		ch = make(chan struct{}, 1)
		h.waiters[jobID] = ch
	}
	return ch
}

func (h *webhookHub) unsubscribe(jobID string) {
	h.mu.Lock()
	delete(h.waiters, jobID)
	h.mu.Unlock()
}

// signal reports whether a worker of this replica was waiting.
func (h *webhookHub) signal(jobID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiters[jobID]
	if ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return ok
}

// webhookToken names one job and is unguessable without the secret, so a
// webhook URL can only ever wake the job it was made for.
func (r *Relay) webhookToken(jobID string) string {
	id := base64.RawURLEncoding.EncodeToString([]byte(jobID))
	return id + "." + r.webhookMAC(id)
}

func (r *Relay) webhookMAC(encodedID string) string {
	m := hmac.New(sha256.New, r.cfg.WebhookSecret)
	m.Write([]byte("deepagents-slack webhook:" + encodedID))
	return hex.EncodeToString(m.Sum(nil))[:40]
}

func (r *Relay) webhookURL(jobID string) string {
	return strings.TrimRight(r.cfg.WebhookURL, "/") + "/agents/webhook/" + r.webhookToken(jobID)
}

// jobFromToken returns the job a webhook token was made for.
func (r *Relay) jobFromToken(token string) (string, bool) {
	id, mac, ok := strings.Cut(token, ".")
	if !ok || len(r.cfg.WebhookSecret) == 0 || !hmac.Equal([]byte(mac), []byte(r.webhookMAC(id))) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return "", false
	}
	return string(raw), true
}

// WebhookHandler serves POST /agents/webhook/{token}: the runtime's run
// completion callback. It only wakes the worker following that run, which
// then reads the thread itself, so a forged or replayed body changes nothing.
func (r *Relay) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		jobID, ok := r.jobFromToken(mux.Vars(req)["token"])
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, req.Body, 8<<20))
		waiting := r.webhooks.signal(jobID)
		r.log.Info("run completion webhook", "job", jobID, "worker_waiting", waiting)
		w.WriteHeader(http.StatusNoContent)
	})
}
