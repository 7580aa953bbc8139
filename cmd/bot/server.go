package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/langsmith"
	"github.com/deepagents-slack/slackbot/internal/metrics"
	"github.com/deepagents-slack/slackbot/internal/relay"
	"github.com/deepagents-slack/slackbot/internal/slackhandler"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slacksocket"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

const (
	maxSlackBody    = 1 << 20 // Slack payloads are small; a megabyte is generous
	shutdownTimeout = 10 * time.Second
)

// service is the wired bot: its HTTP routes and the workers behind them.
type service struct {
	log     *slog.Logger
	store   threadmap.Store
	relay   *relay.Relay
	handler http.Handler
	slack   *slackhandler.Handler   // behind handler and socket; drained on shutdown
	auth    *slack.AuthTestResponse // the bot's identity and workspace
	// slackWrites is the workspace's Slack write scheduler; run drains it
	// once the workers stopped.
	slackWrites *slackpost.Scheduler
	socket      *slacksocket.Edge // nil unless Slack's requests arrive over Socket Mode
	// metricsLn, when METRICS_ADDR is set, serves metrics apart from the
	// public routes (which then have no /metrics).
	metricsLn      net.Listener
	metricsHandler http.Handler
	// shuttingDown ends when run begins to shut down. Requests that wait
	// long (POST /ops/test-runs) watch it, since http.Server.Shutdown
	// waits for active requests without cancelling their contexts.
	shuttingDown      context.Context
	startShuttingDown context.CancelFunc
}

// The PostgreSQL store wakes the relay's dispatcher (see newService).
var _ relay.JobListener = (*threadmap.PostgresStore)(nil)

// newService wires every package from cfg. The caller closes s.store.
func newService(ctx context.Context, cfg Config, log *slog.Logger) (*service, error) {
	m := metrics.New()
	store, err := threadmap.Open(ctx, cfg.DatabaseURL, cfg.storeOptions...)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// A store shared by replicas announces new work (PostgreSQL
	// LISTEN/NOTIFY); taken before a test's wrapper, which need not pass
	// it on, since a wake is only a hint to look at the ledger.
	listener, _ := store.(relay.JobListener)
	if cfg.wrapStore != nil {
		store = cfg.wrapStore(store)
	}
	fail := func(err error) (*service, error) {
		store.Close()
		return nil, err
	}

	agentOpts := []agents.Option{
		agents.WithLogger(log.With("component", "agents")),
		agents.WithUserAgent("deepagents-slack"),
		agents.WithDialect(cfg.Runtime),
	}
	if cfg.H2C {
		agentOpts = append(agentOpts, agents.WithH2C())
	}
	runtime, err := agents.New(cfg.BaseURL, cfg.APIKey, append(agentOpts, cfg.agentOptions...)...)
	if err != nil {
		return fail(fmt.Errorf("agents client: %w", err))
	}
	slackHTTP := &http.Client{Timeout: 30 * time.Second, Transport: m.SlackTransport(http.DefaultTransport)}
	api := slack.New(cfg.BotToken, slack.OptionAPIURL(cfg.SlackAPIURL), slack.OptionHTTPClient(slackHTTP))
	auth, err := authTest(ctx, api)
	if err != nil {
		return fail(err)
	}
	// One bot token is one workspace: every Slack write goes through its
	// one scheduler (see slackpost.Scheduler), drained when the service
	// stops.
	sched := slackpost.NewScheduler(cfg.SlackTierScale)
	poster := slackpost.New(api, slackpost.WithHTTPClient(slackHTTP), slackpost.WithLogger(log.With("component", "slack")),
		slackpost.WithScheduler(sched))

	// An unset sink stays a nil interface: relay sends no feedback then.
	var feedback relay.FeedbackSink
	if cfg.LangSmithURL != "" {
		ls, err := langsmith.New(cfg.LangSmithURL, cfg.APIKey)
		if err != nil {
			return fail(err)
		}
		feedback = ls
	}
	rl, err := relay.New(store, runtime, relay.PosterSlack{Poster: poster},
		relay.WithFeedback(feedback),
		relay.WithOutputPrefix(cfg.OutputPrefix),
		relay.WithListener(listener),
		relay.WithPolicy(cfg.Policy),
		relay.WithLogger(log.With("component", "relay")),
		relay.WithMetrics(m),
		relay.WithSlashCommand(cfg.SlashCommand),
		relay.WithOwner(cfg.ReplicaName),
		relay.WithMaxFollowed(cfg.MaxFollowedRuns),
		relay.WithLeaseTTL(cfg.LeaseTTL),
		relay.WithReactions(cfg.Reactions),
		relay.WithStreaming(cfg.Streaming),
		relay.WithWebhook(cfg.PublicURL, cfg.WebhookSecret()),
		relay.WithStreamSubgraphs(cfg.StreamSubgraphs),
		relay.WithRetryBase(cfg.retryBase),
		relay.WithPollInterval(cfg.pollInterval),
		relay.WithStreamIdleTimeout(cfg.StreamIdleTimeout),
		relay.WithMaxRunAge(cfg.MaxRunAge),
		relay.WithThreadContextChars(cfg.ThreadContextChars),
		relay.WithFileLimits(cfg.FileMaxBytes, cfg.MessageFilesBytes),
		relay.WithRetention(cfg.Retention),
	)
	if err != nil {
		return fail(err)
	}
	runtimeText, _ := rl.RuntimeStatus()
	log.Info("agent runtime", "runtime", cfg.Runtime.String(), "base_url", cfg.BaseURL,
		"public_url_set", cfg.PublicURL != "", "stream_subgraphs", cfg.StreamSubgraphs, "status", runtimeText)
	for _, d := range cfg.Deprecated {
		log.Warn(d)
	}
	if cfg.Runtime == agents.Managed && cfg.PublicURL == "" {
		log.Warn("PUBLIC_URL is not set: if this Managed Deep Agents API neither creates threads with the bot's ids " +
			"(POST /threads thread_id) nor exposes run joins or thread state, first answers cannot come back; " +
			"/agent status shows what the bot has learned")
	}

	h := slackhandler.New(rl,
		slackhandler.WithBotUserID(auth.UserID),
		slackhandler.WithBotID(auth.BotID),
		slackhandler.WithSlashCommand(cfg.SlashCommand),
		slackhandler.WithLogger(log.With("component", "slackhandler")),
		slackhandler.WithMetrics(m),
	)
	svc := &service{log: log, store: store, relay: rl, slack: h, auth: auth, slackWrites: sched}
	svc.shuttingDown, svc.startShuttingDown = context.WithCancel(context.Background())
	r := mux.NewRouter()
	if cfg.SocketMode() {
		// No /slack/* routes and no completion webhook: nothing reaches
		// this bot from outside (see loadConfig).
		if svc.socket, err = newSocketEdge(cfg, h, slackHTTP, log.With("component", "slacksocket")); err != nil {
			return fail(err)
		}
	} else {
		h.Routes(r, slackhandler.Verifier{Secret: cfg.SigningSecret, MaxBody: maxSlackBody, Logger: log.With("component", "verify")})
		r.PathPrefix(relay.WebhookPath).Handler(rl.WebhookHandler())
	}
	svc.opsRoutes(r, cfg)
	r.HandleFunc("/healthz", svc.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", svc.readyz).Methods(http.MethodGet)
	if cfg.MetricsAddr == "" {
		r.Handle("/metrics", m.Handler()).Methods(http.MethodGet)
	} else {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fail(fmt.Errorf("metrics listener (METRICS_ADDR): %w", err))
		}
		mr := http.NewServeMux()
		mr.Handle("GET /metrics", m.Handler())
		svc.metricsLn, svc.metricsHandler = ln, mr
		log.Info("serving metrics apart", "addr", ln.Addr().String())
	}
	svc.handler = r

	log.Info("service ready", "bot_user", auth.UserID, "team", auth.TeamID, "replica", cfg.ReplicaName, "socket_mode", cfg.SocketMode())
	return svc, nil
}

// authTest learns the bot's own user id, so it can ignore its own messages.
func authTest(ctx context.Context, api *slack.Client) (*slack.AuthTestResponse, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := api.AuthTestContext(actx)
		cancel()
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var se slack.SlackErrorResponse
		if errors.As(err, &se) { // e.g. invalid_auth: retrying won't help
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second << attempt):
		}
	}
	return nil, fmt.Errorf("slack auth.test (check SLACK_BOT_TOKEN and SLACK_API_URL): %w", lastErr)
}

// healthz is liveness: the process serves. It also shows the Slack socket's
// state, but a socket that is reconnecting is no reason to restart.
func (s *service) healthz(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, "ok\n")
	if s.socket != nil {
		io.WriteString(w, socketLine(s.socket.Status()))
	}
}

// readyz is readiness: the store is reachable and, in Socket Mode, Slack
// can deliver to this replica.
func (s *service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store unreachable", http.StatusServiceUnavailable)
		return
	}
	if s.socket != nil {
		if st := s.socket.Status(); !st.Connected() {
			http.Error(w, strings.TrimSpace(socketLine(st)), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
	if s.socket != nil {
		io.WriteString(w, socketLine(s.socket.Status()))
	}
}

// run serves HTTP on ln and works the ledger until ctx ends, then shuts
// down in order: stop taking requests and let in-flight acks finish, then
// stop the workers, which hand their leases to other replicas.
func (s *service) run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.relay.Run(workCtx)
	}()
	// The socket, like the HTTP server, stops taking Slack's work first;
	// envelopes in hand are recorded and acked before the workers stop.
	socketCtx, stopSocket := context.WithCancel(ctx)
	defer stopSocket()
	socketDone := make(chan struct{})
	if s.socket != nil {
		go func() {
			defer close(socketDone)
			_ = s.socket.Run(socketCtx)
		}()
	} else {
		close(socketDone)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if s.metricsLn != nil {
		msrv := &http.Server{Handler: s.metricsHandler, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}
		metricsDone := make(chan struct{})
		go func() {
			defer close(metricsDone)
			if err := msrv.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("metrics listener", "err", err)
			}
		}()
		defer func() {
			msrv.Close()
			<-metricsDone
		}()
	}

	var err error
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		s.log.Info("shutting down: finishing in-flight requests")
		s.startShuttingDown()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	stopSocket()
	<-socketDone
	// Dispatcher calls that missed their ack may still be recording work.
	s.slack.Wait()
	stopWork()
	wg.Wait()
	// Then the background Slack calls (final reactions, card updates,
	// ephemeral notes) the requests and workers left; they write through
	// the scheduler, so it is closed after them.
	s.drainBackground(ctx)
	// The workers and background calls are gone: send what they left
	// queued above progress, before the caller closes the store.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	if err := s.slackWrites.Close(dctx); err != nil {
		s.log.Warn("slack writes not drained", "err", err)
	}
	cancel()
	s.log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// drainBackground waits, up to shutdownTimeout, for the background Slack
// calls (final reactions, card updates, ephemeral notes) and feedback the
// relay started. Call it before the store closes.
func (s *service) drainBackground(ctx context.Context) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.relay.Close(dctx); err != nil {
		s.log.Warn("background Slack calls cut short at shutdown", "err", err)
	}
}

func serve(ctx context.Context, cfg Config, stdout io.Writer) error {
	log := newLogger(stdout, cfg.LogLevel)
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.store.Close()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	return svc.run(ctx, ln)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
