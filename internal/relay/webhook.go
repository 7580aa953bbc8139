package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
)

// webhookHub hands a run's completion webhook to the worker following it.
// A payload that arrives before anyone waits is kept for a while, so a run
// that ends while its worker is still reading the stream loses nothing.
type webhookHub struct {
	mu    sync.Mutex
	slots map[string]*webhookSlot
}

type webhookSlot struct {
	done    chan struct{} // closed when payload is set
	payload *webhookPayload
	at      time.Time
}

// webhookPayload is what the bot reads of the runtime's webhook body: the
// run record plus the run's final values ("its payload carries the run's
// final values", product.md; agent-runtime-api.md §2 "Webhook body").
type webhookPayload struct {
	RunID    string          `json:"run_id"`
	ThreadID string          `json:"thread_id"`
	Status   string          `json:"status"`
	Values   json.RawMessage `json:"values"`
	Error    json.RawMessage `json:"error"`
}

// An unclaimed payload is kept webhookKeep at most, and at most
// webhookMaxSlots of them (the oldest go first).
const (
	webhookKeep     = 15 * time.Minute
	webhookMaxSlots = 512
)

func newWebhookHub() *webhookHub { return &webhookHub{slots: map[string]*webhookSlot{}} }

func (h *webhookHub) slotLocked(jobID string) *webhookSlot {
	sl, ok := h.slots[jobID]
	if !ok {
		sl = &webhookSlot{done: make(chan struct{}), at: time.Now()}
		h.slots[jobID] = sl
	}
	return sl
}

// subscribe returns a channel closed once jobID's webhook arrived (maybe
// already).
func (h *webhookHub) subscribe(jobID string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.slotLocked(jobID).done
}

// payload returns jobID's webhook body, if it arrived.
func (h *webhookHub) payload(jobID string) *webhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sl, ok := h.slots[jobID]; ok {
		return sl.payload
	}
	return nil
}

func (h *webhookHub) unsubscribe(jobID string) {
	h.mu.Lock()
	delete(h.slots, jobID)
	h.mu.Unlock()
}

// deliver records jobID's webhook; the first one counts. It reports whether
// a worker of this replica was already waiting.
func (h *webhookHub) deliver(jobID string, p *webhookPayload) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	oldestID, oldest := "", now
	for id, sl := range h.slots {
		if now.Sub(sl.at) > webhookKeep {
			delete(h.slots, id)
		} else if sl.at.Before(oldest) {
			oldestID, oldest = id, sl.at
		}
	}
	if len(h.slots) >= webhookMaxSlots {
		delete(h.slots, oldestID)
	}
	_, waiting := h.slots[jobID]
	sl := h.slotLocked(jobID)
	if sl.payload == nil {
		sl.payload = p
		close(sl.done)
	}
	return waiting
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
// completion callback. The token names one job and is unguessable without
// the secret, so only the runtime that was given the URL can deliver; its
// body's final values are used only where the bot cannot read the run
// itself (no stream, no thread values).
func (r *Relay) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		jobID, ok := r.jobFromToken(mux.Vars(req)["token"])
		if !ok {
			http.NotFound(w, req)
			return
		}
		var p webhookPayload
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 16<<20)).Decode(&p); err != nil {
			r.log.Warn("run completion webhook: unreadable body", "job", jobID, "err", err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		waiting := r.webhooks.deliver(jobID, &p)
		r.log.Info("run completion webhook", "job", jobID, "run_id", p.RunID, "status", p.Status, "worker_waiting", waiting)
		w.WriteHeader(http.StatusNoContent)
	})
}
