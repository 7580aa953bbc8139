package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/metrics"
	"github.com/deepagents-slack/slackbot/internal/relay"
	"github.com/deepagents-slack/slackbot/internal/slackhandler"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// Identities the load generator and the servers agree on.
const (
	benchSecret  = "loadbench-signing-secret"
	benchBotUser = "ULOADBOT1"
	benchCommand = "/agent"
	// unreachable is where the bot's Slack and runtime clients point. The
	// ack path never calls them (workers are not started; every request is a
	// distinct prompt in an allowed channel), so a call would be a bug that
	// shows up as errors in the bot's log.
	unreachable = "http://127.0.0.1:9/"
)

// serveChild runs one server process: it listens on a loopback port, prints
// "listening <addr>" on stdout and serves until stdin closes or a signal.
func serveChild(kind, database, logPath, cpuProfile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var handler http.Handler
	var closeStore func() error
	switch kind {
	case "bare":
		handler = bareHandler(benchSecret)
	case "bot":
		logFile, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer logFile.Close()
		h, store, err := botHandler(ctx, database, slog.New(slog.NewJSONHandler(logFile, nil)))
		if err != nil {
			return err
		}
		handler, closeStore = h, store.Close
	default:
		return fmt.Errorf("unknown server %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		// The parent closes our stdin to stop us. Not joined: a read of
		// stdin cannot be interrupted, and the process exits right after.
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	shutDown := make(chan struct{})
	go func() {
		defer close(shutDown)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("listening %s\n", ln.Addr())
	err = srv.Serve(ln)
	// Requests in flight finish before the store closes under them; a
	// Serve that failed ends the shutdown goroutine through stop.
	stop()
	<-shutDown
	if closeStore != nil {
		closeStore()
	}
	if err == http.ErrServerClosed {
		err = nil
	}
	return err
}

// botHandler wires the bot's ack path as cmd/bot's newService does — the
// metrics, the signature Verifier, the Slack handler, the relay and the real
// store — without starting the relay's workers, so the numbers are the path
// Slack waits for and nothing else.
func botHandler(ctx context.Context, database string, log *slog.Logger) (http.Handler, threadmap.Store, error) {
	m := metrics.New()
	store, err := threadmap.Open(ctx, database)
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	runtime, err := agents.New(unreachable, "loadbench-key", agents.WithLogger(log.With("component", "agents")))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	api := slack.New("xoxb-loadbench", slack.OptionAPIURL(unreachable+"api/"))
	rl, err := relay.New(store, runtime,
		relay.PosterSlack{Poster: slackpost.New(api, slackpost.WithLogger(log.With("component", "slack")))},
		relay.WithPolicy(relay.Policy{
			DefaultAgent:     "00000000-0000-4000-8000-000000000001",
			ChannelAgents:    map[string]string{},
			HeadlessChannels: map[string]bool{},
			TestRunChannels:  map[string]bool{},
			OpsUsers:         map[string]bool{},
			ApproverUsers:    map[string]bool{},
			AllowedChannels:  map[string]bool{},
		}),
		relay.WithLogger(log.With("component", "relay")),
		relay.WithMetrics(m),
		relay.WithSlashCommand(benchCommand),
		relay.WithOwner("loadbench"),
		relay.WithReactions(true),
		relay.WithStreaming(true),
	)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	h := slackhandler.New(rl,
		slackhandler.WithBotUserID(benchBotUser),
		slackhandler.WithSlashCommand(benchCommand),
		slackhandler.WithLogger(log.With("component", "slackhandler")),
		slackhandler.WithMetrics(m),
	)
	r := mux.NewRouter()
	h.Routes(r, slackhandler.Verifier{Secret: benchSecret, MaxBody: 1 << 20, Logger: log.With("component", "verify")})
	return r, store, nil
}

// bareHandler is the ceiling: net/http reading the body and checking
// Slack's v0 HMAC over it, then an empty 200. Nothing is parsed or recorded.
func bareHandler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ts := r.Header.Get("X-Slack-Request-Timestamp")
		sig, ok := strings.CutPrefix(r.Header.Get("X-Slack-Signature"), "v0=")
		got, err := hex.DecodeString(sig)
		if !ok || err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		m := hmac.New(sha256.New, []byte(secret))
		io.WriteString(m, "v0:"+ts+":")
		m.Write(body)
		if !hmac.Equal(got, m.Sum(nil)) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
