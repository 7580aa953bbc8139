package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
)

// webhookHub hands a run's completion webhook to the worker following it.
// A payload that arrives before anyone waits is kept for a while, so a run
// that ends while its worker is still reading the stream loses nothing.
// Slots are keyed by run start (webhookKey), not by job: a resume keeps
// the job, and the paused run's webhook must not end the resumed run.
type webhookHub struct {
	mu    sync.Mutex
	slots map[string]*webhookSlot
	bytes int // sum of the kept results' sizes
}

type webhookSlot struct {
	done    chan struct{} // closed when payload is set
	payload *webhookResult
	at      time.Time
	claimed bool // a worker waits on it and unsubscribes when done
}

// webhookBody is what the bot reads of the runtime's webhook body: the
// run record plus the run's final values ("its payload carries the run's
// final values", product.md; agent-runtime-api.md §2 "Webhook body").
type webhookBody struct {
	RunID    string          `json:"run_id"`
	ThreadID string          `json:"thread_id"`
	Status   string          `json:"status"`
	Values   json.RawMessage `json:"values"`
	Error    json.RawMessage `json:"error"`
}

// webhookResult is what the hub keeps of a webhook body: the run, its
// status and only what the outcome needs of the values (the values carry
// the whole conversation), so kept payloads stay small.
type webhookResult struct {
	RunID      string
	Status     string
	Error      string
	Answer     string
	Interrupts []agents.Interrupt
	size       int
}

// Caps of what one result keeps of its body.
const (
	webhookMaxAnswer = 1 << 20 // runes; far above any answer posted to Slack
	webhookMaxError  = 4000    // runes; the user sees at most 1500
)

func resultOf(b webhookBody) *webhookResult {
	res := &webhookResult{RunID: b.RunID, Status: b.Status}
	if len(b.Error) > 0 && string(b.Error) != "null" {
		var s string
		if json.Unmarshal(b.Error, &s) != nil {
			s = string(b.Error)
		}
		res.Error = truncate(s, webhookMaxError)
	}
	res.Interrupts, _ = agents.ParseInterrupts(b.Values)
	res.Answer = truncate(agents.FinalText(b.Values), webhookMaxAnswer)
	res.size = len(res.RunID) + len(res.Status) + len(res.Error) + len(res.Answer)
	if len(res.Interrupts) > 0 {
		if raw, err := json.Marshal(res.Interrupts); err == nil {
			res.size += len(raw)
		}
	}
	return res
}

// Unclaimed results are kept webhookKeep at most, at most webhookMaxSlots
// of them and webhookMaxBytes in all (the oldest go first).
const (
	webhookKeep     = 15 * time.Minute
	webhookMaxSlots = 512
	webhookMaxBytes = 64 << 20
)

func newWebhookHub() *webhookHub { return &webhookHub{slots: map[string]*webhookSlot{}} }

func (h *webhookHub) slotLocked(key string) *webhookSlot {
	sl, ok := h.slots[key]
	if !ok {
		sl = &webhookSlot{done: make(chan struct{}), at: time.Now()}
		h.slots[key] = sl
	}
	return sl
}

func (h *webhookHub) dropLocked(key string) {
	if sl, ok := h.slots[key]; ok {
		if sl.payload != nil {
			h.bytes -= sl.payload.size
		}
		delete(h.slots, key)
	}
}

// subscribe returns a channel closed once key's webhook arrived (maybe
// already). The caller must unsubscribe.
func (h *webhookHub) subscribe(key string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	sl := h.slotLocked(key)
	sl.claimed = true
	return sl.done
}

// payload returns key's webhook result, if it arrived.
func (h *webhookHub) payload(key string) *webhookResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sl, ok := h.slots[key]; ok {
		return sl.payload
	}
	return nil
}

func (h *webhookHub) unsubscribe(key string) {
	h.mu.Lock()
	h.dropLocked(key)
	h.mu.Unlock()
}

// reopen drops key's result and keeps waiting for another.
func (h *webhookHub) reopen(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(key)
	h.slotLocked(key).claimed = true
}

// deliver records key's webhook; the first one counts. It reports whether
// a worker of this replica was already waiting.
func (h *webhookHub) deliver(key string, res *webhookResult) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for id, sl := range h.slots {
		if !sl.claimed && now.Sub(sl.at) > webhookKeep {
			h.dropLocked(id)
		}
	}
	sl, waiting := h.slots[key]
	if waiting && sl.payload != nil {
		return sl.claimed
	}
	if !waiting || !sl.claimed {
		// Only unclaimed results count against the caps: a claimed one
		// is read and dropped by its worker.
		h.evictLocked(res.size)
	}
	sl = h.slotLocked(key)
	sl.payload = res
	h.bytes += res.size
	close(sl.done)
	return sl.claimed
}

// evictLocked drops the oldest unclaimed results until one of size fits.
func (h *webhookHub) evictLocked(size int) {
	for {
		n, oldestID, oldest := 0, "", time.Time{}
		for id, sl := range h.slots {
			if sl.claimed || sl.payload == nil {
				continue
			}
			n++
			if oldestID == "" || sl.at.Before(oldest) {
				oldestID, oldest = id, sl.at
			}
		}
		if oldestID == "" || (n < webhookMaxSlots && h.bytes+size <= webhookMaxBytes) {
			return
		}
		h.dropLocked(oldestID)
	}
}

// webhookKey names one run start of a job: the job, the card a resume
// answers (one per resume) and when the start was sent. A resume keeps the
// job id, so the job alone would hand the paused run's webhook, which may
// come late, to the resumed run.
func webhookKey(job slackbot.Job) string {
	p, _ := decodePayload(job.Payload)
	key := job.ID + "\x00" + p.CardID
	if !p.RunStartedAt.IsZero() {
		key += "\x00" + strconv.FormatInt(p.RunStartedAt.UnixNano(), 36)
	}
	return key
}

// webhookToken names one run start (webhookKey) and is unguessable without
// the secret, so a webhook URL can only ever wake the run it was made for.
func (r *Relay) webhookToken(key string) string {
	id := base64.RawURLEncoding.EncodeToString([]byte(key))
	return id + "." + r.webhookMAC(id)
}

func (r *Relay) webhookMAC(encodedID string) string {
	m := hmac.New(sha256.New, r.cfg.WebhookSecret)
	m.Write([]byte("deepagents-slack webhook:" + encodedID))
	return hex.EncodeToString(m.Sum(nil))[:40]
}

func (r *Relay) webhookURL(key string) string {
	return strings.TrimRight(r.cfg.WebhookURL, "/") + WebhookPath + r.webhookToken(key)
}

// keyFromToken returns the run start (webhookKey) a webhook token was made for.
func (r *Relay) keyFromToken(token string) (string, bool) {
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

// WebhookPath is where WebhookHandler serves; mount the handler on it
// (it routes POST WebhookPath+"{token}" itself).
const WebhookPath = "/agents/webhook/"

// WebhookHandler serves POST /agents/webhook/{token}: the runtime's run
// completion callback. The token names one job and is unguessable without
// the secret, so only the runtime that was given the URL can deliver; its
// body's final values are used only where the bot cannot read the run
// itself (no stream, no thread values).
func (r *Relay) WebhookHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+WebhookPath+"{token}", func(w http.ResponseWriter, req *http.Request) {
		key, ok := r.keyFromToken(req.PathValue("token"))
		if !ok {
			http.NotFound(w, req)
			return
		}
		jobID, _, _ := strings.Cut(key, "\x00")
		var body webhookBody
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 16<<20)).Decode(&body); err != nil {
			r.log.Warn("run completion webhook: unreadable body", "job", jobID, "err", err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		waiting := r.webhooks.deliver(key, resultOf(body))
		r.log.Info("run completion webhook", "job", jobID, "run_id", body.RunID, "status", body.Status, "worker_waiting", waiting)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
