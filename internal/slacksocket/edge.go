// Package slacksocket is the bot's Slack Socket Mode edge, for teams without
// a public HTTPS endpoint: it holds a WebSocket to Slack with slack-go's
// socketmode client, reconnecting with backoff, and hands every envelope
// (slash commands, events, interactions) to the HTTP edge's own code
// (slackhandler.Handler.Deliver), acking it only once the work is recorded.
// Several replicas may each hold a connection: Slack spreads envelopes
// across them and the store deduplicates.
package slacksocket

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/deepagents-slack/slackbot/internal/slackhandler"
)

// Connection states reported by Status.
const (
	StateConnecting   = "connecting"
	StateConnected    = "connected"
	StateDisconnected = "disconnected" // waiting to reconnect
	StateInvalidAuth  = "invalid_auth" // Slack refused the app-level token
	StateStopped      = "stopped"
)

// Status is the socket's state, for health checks.
type Status struct {
	State string
	Since time.Time
	// Connects counts successful connections since start.
	Connects  int
	LastError string
}

// Connected reports whether Slack can deliver to this replica now.
func (s Status) Connected() bool { return s.State == StateConnected }

// config holds the edge's dependencies and knobs, filled by New's
// arguments and Options.
type config struct {
	// api is a client carrying the app-level token
	// (slack.OptionAppLevelToken) and the Web API URL.
	api *slack.Client
	// handler turns payloads into Dispatcher calls, as over HTTP.
	handler *slackhandler.Handler
	logger  *slog.Logger
	// maxInFlight bounds envelopes handled at once (default 64).
	maxInFlight int
	// pingInterval is how long Slack may stay silent before the connection
	// is presumed dead (default slack-go's, 30s).
	pingInterval time.Duration
	// maxBackoff caps the wait between attempts after the client gave up
	// (a refused token, for instance); default 1 minute.
	maxBackoff time.Duration
}

// Option sets an optional knob of the edge.
type Option func(*config)

// WithLogger sets the edge's logger; nil (the default) logs nothing.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxInFlight bounds envelopes handled at once; 0 or less means 64.
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithPingInterval sets how long Slack may stay silent before the connection is presumed dead; 0 keeps slack-go's 30s.
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.pingInterval = d } }

// WithMaxBackoff caps the wait between connection attempts; 0 or less means 1 minute.
func WithMaxBackoff(d time.Duration) Option { return func(c *config) { c.maxBackoff = d } }

// maxEnvelope bounds one incoming message, like the HTTP edge's body limit.
const maxEnvelope = 1 << 20

// Edge is a running Socket Mode connection.
type Edge struct {
	cfg    config
	log    *slog.Logger
	client *socketmode.Client

	mu     sync.Mutex
	status Status
}

// New prepares the edge; Run connects. api is a client carrying the
// app-level token (slack.OptionAppLevelToken) and the Web API URL; h turns
// payloads into Dispatcher calls, as over HTTP.
func New(api *slack.Client, h *slackhandler.Handler, opts ...Option) (*Edge, error) {
	cfg := config{api: api, handler: h}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.api == nil || cfg.handler == nil {
		return nil, errors.New("slacksocket: API and Handler are required")
	}
	if cfg.handler.Dispatcher() == nil {
		return nil, errors.New("slacksocket: Handler.Dispatcher is nil")
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.maxInFlight <= 0 {
		cfg.maxInFlight = 64
	}
	if cfg.maxBackoff <= 0 {
		cfg.maxBackoff = time.Minute
	}
	smOpts := []socketmode.Option{
		socketmode.OptionLog(logOutput{cfg.logger}),
		socketmode.OptionReadLimit(maxEnvelope),
	}
	if cfg.pingInterval > 0 {
		smOpts = append(smOpts, socketmode.OptionPingInterval(cfg.pingInterval))
	}
	return &Edge{
		cfg:    cfg,
		log:    cfg.logger,
		client: socketmode.New(cfg.api, smOpts...),
		status: Status{State: StateConnecting, Since: time.Now()},
	}, nil
}

// Status reports the connection's state.
func (e *Edge) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

func (e *Edge) setState(state string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.status.State != state {
		e.status.State, e.status.Since = state, time.Now()
	}
	if state == StateConnected {
		e.status.Connects++
		e.status.LastError = ""
	}
	if err != nil {
		e.status.LastError = err.Error()
	}
}

// Run holds the connection until ctx ends, then waits for the envelopes in
// hand to be acked. slack-go reconnects by itself when Slack asks it to,
// when the connection drops or pings stop, retrying apps.connections.open
// with backoff; when it gives up (a refused token) Run starts it again
// after its own backoff.
func (e *Edge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	eventsCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.consume(eventsCtx, ctx)
	}()
	defer func() {
		stopEvents()
		wg.Wait()
		e.setState(StateStopped, nil)
	}()

	failures := 0
	for {
		start := time.Now()
		err := e.client.RunContext(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			failures = 0
		}
		failures++
		state := StateDisconnected
		if isAuthError(err) {
			state = StateInvalidAuth
		}
		e.setState(state, err)
		wait := e.backoff(failures)
		e.log.Error("socket mode stopped; starting again", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (e *Edge) backoff(n int) time.Duration {
	d := time.Second << min(n-1, 10)
	d = min(d, e.cfg.maxBackoff)
	return d/2 + rand.N(d/2+1) // jitter, so replicas do not retry in step
}

func isAuthError(err error) bool {
	if err == nil {
		return false
	}
	switch err.Error() {
	case "invalid_auth", "account_inactive", "not_authed", "token_revoked", "not_allowed_token_type":
		return true
	}
	var se slack.StatusCodeError
	return errors.As(err, &se) && se.Code == 404
}

// consume reads the client's events until eventsCtx ends. Envelopes are
// handled on their own goroutines, at most MaxInFlight at once, with
// handleCtx (cancelled at shutdown; the handler's ack deadline still
// applies) so a slow store cannot hold up the connection.
func (e *Edge) consume(eventsCtx, handleCtx context.Context) {
	sem := make(chan struct{}, e.cfg.maxInFlight)
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for {
		var evt socketmode.Event
		select {
		case <-eventsCtx.Done():
			return
		case evt = <-e.client.Events:
		}
		var req *socketmode.Request
		switch evt.Type {
		case socketmode.EventTypeConnecting:
			if e.Status().State == StateConnected {
				e.log.Warn("socket mode connection lost; reconnecting")
			}
			if st := e.Status().State; st != StateInvalidAuth {
				e.setState(StateConnecting, nil)
			}
		case socketmode.EventTypeConnected:
			e.setState(StateConnected, nil)
			e.log.Info("socket mode connected", "connects", e.Status().Connects)
		case socketmode.EventTypeHello:
			if evt.Request != nil {
				e.log.Debug("socket mode hello", "num_connections", evt.Request.NumConnections)
			}
		case socketmode.EventTypeConnectionError:
			if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
				e.setState(StateDisconnected, ce.ErrorObj)
				e.log.Warn("socket mode connection failed", "attempt", ce.Attempt, "retry_in", ce.Backoff, "err", ce.ErrorObj)
			}
		case socketmode.EventTypeInvalidAuth:
			e.setState(StateInvalidAuth, errors.New("invalid_auth"))
		case socketmode.EventTypeIncomingError:
			if ie, ok := evt.Data.(*slack.IncomingEventError); ok {
				e.log.Warn("socket mode read failed", "err", ie.ErrorObj)
			}
		case socketmode.EventTypeErrorWriteFailed:
			if we, ok := evt.Data.(*socketmode.ErrorWriteFailed); ok {
				env := ""
				if we.Response != nil {
					env = we.Response.EnvelopeID
				}
				// Slack delivers the envelope again; the store deduplicates.
				e.log.Error("socket mode ack not sent", "envelope_id", env, "err", we.Cause)
			}
		case socketmode.EventTypeErrorBadMessage:
			// slack-go could not parse the payload (an event type it does
			// not know, say). The handler filters before parsing, like
			// over HTTP, so it still gets the envelope.
			if bm, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
				var r socketmode.Request
				if json.Unmarshal(bm.Message, &r) == nil && r.EnvelopeID != "" {
					req = &r
				} else {
					e.log.Warn("socket mode message without an envelope", "err", bm.Cause)
				}
			}
		case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
			req = evt.Request
		}
		if req == nil || req.EnvelopeID == "" {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-eventsCtx.Done():
			return
		}
		inFlight.Add(1)
		go func() {
			defer inFlight.Done()
			defer func() { <-sem }()
			e.handle(handleCtx, req)
		}()
	}
}

// handle hands one envelope to the handler and acks it once its work is
// recorded. An envelope whose work may not be recorded stays unacked, so
// Slack delivers it again.
func (e *Edge) handle(ctx context.Context, req *socketmode.Request) {
	log := e.log.With("envelope_id", req.EnvelopeID, "type", req.Type)
	if req.RetryAttempt > 0 {
		log = log.With("retry_attempt", req.RetryAttempt, "retry_reason", req.RetryReason)
	}
	ack, err := e.cfg.handler.Deliver(context.WithoutCancel(ctx), slackhandler.Delivery{
		Kind:         req.Type,
		Payload:      req.Payload,
		RetryAttempt: req.RetryAttempt,
		RetryReason:  req.RetryReason,
	})
	if err != nil {
		// Unusable: delivering the same bytes again cannot help.
		log.Warn("unusable envelope; acked", "err", err)
		ack = slackhandler.Ack{OK: true}
	}
	if !ack.OK {
		log.Warn("envelope not acked: its work was not recorded; Slack will deliver it again")
		return
	}
	var payload any
	if len(ack.Payload) > 0 && req.AcceptsResponsePayload {
		payload = ack.Payload
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.client.AckCtx(actx, req.EnvelopeID, payload); err != nil {
		log.Error("ack envelope", "err", err)
	}
}

// logOutput sends slack-go's own log lines (debug only) to slog.
type logOutput struct{ log *slog.Logger }

func (l logOutput) Output(_ int, s string) error {
	l.log.Debug(strings.TrimSpace(s), "source", "slack-go/socketmode")
	return nil
}
