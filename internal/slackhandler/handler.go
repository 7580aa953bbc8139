package slackhandler

import (
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
)

// DefaultAckTimeout leaves half a second of Slack's three for the network.
const DefaultAckTimeout = 2500 * time.Millisecond

// Route names passed to Metrics.ObserveAck.
const (
	RouteCommands     = "commands"
	RouteEvents       = "events"
	RouteInteractions = "interactions"
)

// Metrics receives what the handler observes. Every method must be cheap and
// safe for concurrent use. A nil Metrics records nothing.
type Metrics interface {
	// ObserveAck records how long a route took to answer Slack, and with what
	// status (including rejections by the Verifier).
	ObserveAck(route string, d time.Duration, status int)
	// EventRetried records a redelivered event (X-Slack-Retry-Num > 0).
	EventRetried(num int, reason string)
	// AppRateLimited records an app_rate_limited notice from Slack.
	AppRateLimited()
	// EventDecodedByHand records an event slack-go could not decode, read
	// by the handler itself.
	EventDecodedByHand(eventType string)
	// EventDropped records an event the bot could not use at all (reason
	// "undecodable").
	EventDropped(eventType, reason string)
}

// Handler answers Slack's HTTP requests and hands the work to its
// Dispatcher. Build it with New; it is not changed afterwards.
type Handler struct {
	dispatcher Dispatcher
	// botUserID is the bot's user id (U…): its messages are ignored and its
	// mention is stripped. The bot user ids in an event's authorizations are
	// honoured too.
	botUserID string
	// botID is the bot's bot id (B…), used only to tell the bot's own posts
	// from other bots' in the logs: every message carrying a bot_id is ignored.
	botID string
	// slashCommand, if set (e.g. "/agent"), is the only command dispatched;
	// others get an ephemeral notice.
	slashCommand string
	// ackLimit bounds how long each request waits for the Dispatcher;
	// default DefaultAckTimeout (see ackTimeout).
	ackLimit time.Duration
	baseLog  *slog.Logger // nil logs nothing (see logger)
	metrics  Metrics      // optional

	// inflight counts dispatcher calls, which may outlive their request
	// when they miss the ack (see bounded); Wait waits for them.
	inflight sync.WaitGroup
}

// Option sets an optional knob of a Handler.
type Option func(*Handler)

// WithBotUserID sets the bot's user id (U…), whose messages are ignored and whose mention is stripped.
func WithBotUserID(id string) Option { return func(h *Handler) { h.botUserID = id } }

// WithBotID sets the bot's bot id (B…), used only to tell its own posts from other bots' in the logs.
func WithBotID(id string) Option { return func(h *Handler) { h.botID = id } }

// WithSlashCommand makes cmd (e.g. "/agent") the only command dispatched; others get an ephemeral notice.
func WithSlashCommand(cmd string) Option { return func(h *Handler) { h.slashCommand = cmd } }

// WithAckTimeout bounds how long each request waits for the Dispatcher; 0 or less means DefaultAckTimeout.
func WithAckTimeout(d time.Duration) Option { return func(h *Handler) { h.ackLimit = d } }

// WithLogger sets the handler's logger; nil (the default) logs nothing.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.baseLog = l } }

// WithMetrics sets where acks and event outcomes are counted; nil (the default) counts nothing.
func WithMetrics(m Metrics) Option { return func(h *Handler) { h.metrics = m } }

// New returns a Handler handing the work to d. A nil d is caught by Routes
// (a panic at startup) and by slacksocket.New (an error), as before.
func New(d Dispatcher, opts ...Option) *Handler {
	h := &Handler{dispatcher: d}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Dispatcher returns the Dispatcher the handler hands work to.
func (h *Handler) Dispatcher() Dispatcher { return h.dispatcher }

// Wait waits for the dispatcher calls of requests already answered. Call
// it once the server stopped taking requests (http.Server.Shutdown, the
// socket's Run returned) and before what the dispatcher uses is closed.
// Each call is bounded by the ack timeout, so Wait is too.
func (h *Handler) Wait() { h.inflight.Wait() }

// Routes registers the three Slack endpoints on r, each behind v. Methods are
// not restricted at the router so that v answers wrong methods (405) and the
// ack metric sees them. It panics if the Dispatcher is nil: a wiring mistake
// that should stop the process at startup, not on Slack's first request.
func (h *Handler) Routes(r *mux.Router, v Verifier) {
	if h.dispatcher == nil {
		panic("slackhandler: Handler's Dispatcher is nil")
	}
	r.Handle("/slack/commands", h.observe(RouteCommands, v.Middleware(http.HandlerFunc(h.serveCommand))))
	r.Handle("/slack/events", h.observe(RouteEvents, v.Middleware(http.HandlerFunc(h.serveEvent))))
	r.Handle("/slack/interactions", h.observe(RouteInteractions, v.Middleware(http.HandlerFunc(h.serveInteraction))))
}

func (h *Handler) ackTimeout() time.Duration {
	if h.ackLimit > 0 {
		return h.ackLimit
	}
	return DefaultAckTimeout
}

// discard is the logger of a Handler or Verifier given none, as in every
// package of the bot. Immutable, so sharing it is safe.
var discard = slog.New(slog.DiscardHandler)

func (h *Handler) logger() *slog.Logger {
	if h.baseLog != nil {
		return h.baseLog
	}
	return discard
}

// reqLog is one request's logger. Its attributes are formatted only when a
// line is written, and most acks write none: building a *slog.Logger with
// With for every request would format them every time.
type reqLog struct {
	base  *slog.Logger
	attrs []slog.Attr
}

func (h *Handler) reqLogger(attrs ...slog.Attr) *reqLog {
	return &reqLog{base: h.logger(), attrs: attrs}
}

// with adds attributes to every later line of the request.
func (l *reqLog) with(attrs ...slog.Attr) { l.attrs = append(l.attrs, attrs...) }

func (l *reqLog) Debug(msg string, attrs ...slog.Attr) { l.log(slog.LevelDebug, msg, attrs) }
func (l *reqLog) Info(msg string, attrs ...slog.Attr)  { l.log(slog.LevelInfo, msg, attrs) }
func (l *reqLog) Warn(msg string, attrs ...slog.Attr)  { l.log(slog.LevelWarn, msg, attrs) }
func (l *reqLog) Error(msg string, attrs ...slog.Attr) { l.log(slog.LevelError, msg, attrs) }

func (l *reqLog) log(level slog.Level, msg string, attrs []slog.Attr) {
	ctx := context.Background()
	if !l.base.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, len(l.attrs)+len(attrs))
	l.base.LogAttrs(ctx, level, msg, append(append(all, l.attrs...), attrs...)...)
}

// observe reports each response's status and latency to Metrics.
func (h *Handler) observe(route string, next http.Handler) http.Handler {
	if h.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		h.metrics.ObserveAck(route, time.Since(start), sw.status())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// bounded runs fn on its own goroutine with a context that keeps the
// request's values but not its cancellation, and expires after the ack
// timeout. It returns fn's result, or ok=false if fn has not answered by the
// time the context expires or the client goes away. fn may keep running after
// that; it must honour its context and must not touch the request.
// fn is counted in h.inflight, so h.Wait waits for it.
func bounded[T any](h *Handler, r *http.Request, fn func(context.Context) T) (result T, ok bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.ackTimeout())
	done := make(chan T, 1) // buffered: a late fn must not block forever
	h.inflight.Add(1)
	go func() {
		defer h.inflight.Done()
		defer cancel()
		done <- fn(ctx)
	}()
	select {
	case result = <-done:
		return result, true
	case <-ctx.Done():
	case <-r.Context().Done():
	}
	// fn may have answered at the same instant; prefer its answer.
	select {
	case result = <-done:
		return result, true
	default:
		var zero T
		return zero, false
	}
}

// hasMediaType reports whether the request's Content-Type is want (parameters
// such as charset are ignored).
func hasMediaType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ackEmpty answers Slack with an empty 200.
func ackEmpty(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }
