// Package relay is the bot's core: it turns accepted Slack work into agent
// runs, follows each run until it ends and brings its progress, answer,
// failures and approval requests back into the Slack thread. Work is kept in
// the threadmap store's ledger first, so any replica (or a restarted one)
// can finish what another accepted.
package relay

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// Config holds the relay's dependencies and knobs.
type Config struct {
	Store  Store
	Agents Runtime
	Slack  Slack
	// Listener, when set, wakes the idle dispatcher when another process
	// records work in the shared store (PostgreSQL LISTEN/NOTIFY); without
	// it work recorded elsewhere waits for the fallback poll.
	Listener JobListener
	// LangSmith, when set, receives users' 👍/👎 as feedback on runs.
	LangSmith FeedbackSink
	Policy    Policy
	Logger    *slog.Logger
	// Metrics receives operational counters; nil records nothing.
	Metrics Metrics

	SlashCommand string // "/agent"
	Owner        string // this replica's name in leases
	// MaxFollowed is a safety limit on the jobs this replica works at once
	// (DefaultMaxFollowed when 0). It is not a capacity setting: a job
	// costs a goroutine and, while its run is followed, one stream.
	MaxFollowed int
	LeaseTTL    time.Duration
	// PollInterval is how often an idle replica looks for work nobody
	// announced: leases that expired (a crashed replica), retries another
	// replica scheduled, notifications lost while reconnecting.
	PollInterval time.Duration
	// Reactions marks users' messages when picked up and when answered.
	Reactions bool
	// Streaming tries Slack's chat.startStream for live replies.
	Streaming bool
	// WebhookURL, when set, is this bot's public base URL; runs then carry a
	// completion webhook so runtimes without a run stream answer quickly.
	WebhookURL    string
	WebhookSecret []byte
	// StreamSubgraphs asks runtimes for subagents' own events
	// (stream_subgraphs). Off by default: @langchain/langgraph-api 2.0.0
	// fails deepagents runs that ask for it.
	StreamSubgraphs bool
	// ThreadPollMax caps the backoff while polling a thread for its result.
	ThreadPollMax time.Duration
	// RetryBase is the wait after a job's first failed attempt; it doubles
	// with every further one (capped at five minutes).
	RetryBase time.Duration
	// StreamIdleTimeout is how long a run stream may stay silent (no event,
	// no keep-alive) before it is dropped and rejoined.
	StreamIdleTimeout time.Duration
	// MaxRunAge is how long a run is followed; after it the user is told
	// and the worker moves on.
	MaxRunAge time.Duration
	// Retention is how long finished jobs, their cards and handled Slack
	// deliveries are kept (at least MinRetention).
	Retention time.Duration
	// OutputPrefix is where in the agent's files its outputs are
	// (OUTPUT_FILES, e.g. "/outputs/"); they are shared in the thread with
	// the answer, at most OutputMaxFiles of OutputMaxBytes each. "" shares
	// none.
	OutputPrefix   string
	OutputMaxFiles int
	OutputMaxBytes int
	// ThreadContextChars bounds the earlier thread messages a run starts
	// with when the bot is mentioned in someone else's thread; the oldest
	// are left out first.
	ThreadContextChars int
	// FileMaxBytes bounds one file shared with a prompt; MessageFilesBytes
	// all files of one message. Larger files are named, not passed.
	FileMaxBytes      int64
	MessageFilesBytes int64
	// SuggestedPrompts are offered when a user opens the bot as an AI app.
	SuggestedPrompts []slackpost.Prompt
	// Now is the core's clock for what it records (card, decision, stop and
	// feedback times, retention cut-offs); time.Now by default.
	Now func() time.Time
}

// Relay implements slackhandler.Dispatcher and runs the workers that follow runs.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	metrics Metrics
	wake    chan struct{} // work recorded by this process
	// listenWake is work another process announced (Config.Listener).
	listenWake chan struct{}
	webhooks   *webhookHub
	courtesy   *courtesy // ordered reactions and AI app status
	tasks      *tasks    // background work; Close waits for it
}

// New checks cfg and fills defaults.
func New(cfg Config) (*Relay, error) {
	if cfg.Store == nil || cfg.Agents == nil || cfg.Slack == nil {
		return nil, errors.New("relay: Store, Agents and Slack are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SlashCommand == "" {
		cfg.SlashCommand = "/agent"
	}
	if cfg.Owner == "" {
		cfg.Owner = "bot"
	}
	if cfg.MaxFollowed <= 0 {
		cfg.MaxFollowed = DefaultMaxFollowed
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.ThreadPollMax <= 0 {
		cfg.ThreadPollMax = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if cfg.MaxRunAge <= 0 {
		cfg.MaxRunAge = DefaultMaxRunAge
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	cfg.Retention = max(cfg.Retention, MinRetention)
	if cfg.OutputMaxFiles <= 0 {
		cfg.OutputMaxFiles = DefaultOutputMaxFiles
	}
	if cfg.OutputMaxBytes <= 0 {
		cfg.OutputMaxBytes = DefaultOutputMaxBytes
	}
	if cfg.ThreadContextChars <= 0 {
		cfg.ThreadContextChars = DefaultThreadContextChars
	}
	if cfg.FileMaxBytes <= 0 {
		cfg.FileMaxBytes = DefaultFileMaxBytes
	}
	if cfg.MessageFilesBytes <= 0 {
		cfg.MessageFilesBytes = DefaultMessageFilesBytes
	}
	if len(cfg.SuggestedPrompts) == 0 {
		cfg.SuggestedPrompts = defaultPrompts
	}
	m := cfg.Metrics
	if m == nil {
		m = nopMetrics{}
	}
	t := newTasks()
	return &Relay{
		cfg:        cfg,
		log:        cfg.Logger,
		metrics:    m,
		wake:       make(chan struct{}, 1),
		listenWake: make(chan struct{}, 1),
		webhooks:   newWebhookHub(),
		courtesy:   newCourtesy(cfg.Logger, t),
		tasks:      t,
	}, nil
}

// Close waits, until ctx ends, for the background work the relay started
// (reactions, card updates, ephemeral notes, feedback), then cancels what
// is left. Call it after Run returned and the edges stopped taking Slack's
// requests, and before the store closes; background work offered after it
// is dropped and logged.
func (r *Relay) Close(ctx context.Context) error {
	return r.tasks.Close(ctx)
}

var defaultPrompts = []slackpost.Prompt{
	{Title: "Summarize a topic", Message: "Give me a short briefing on "},
	{Title: "Plan a task", Message: "Make a step-by-step plan for "},
	{Title: "Research a question", Message: "Research this and cite your sources: "},
}

// Defaults of the watchdogs and of retention.
const (
	// DefaultStreamIdleTimeout is well above the keep-alive interval of
	// Agent Server streams, so only a dead connection trips it.
	DefaultStreamIdleTimeout = 2 * time.Minute
	DefaultMaxRunAge         = 2 * time.Hour
	DefaultRetention         = 30 * 24 * time.Hour
	// MinRetention keeps dedupe keys (delivery ids, job ids) far beyond
	// Slack's last retry of an event, about five minutes after the first.
	MinRetention = time.Hour
)

// pruneLoop deletes, hourly, finished jobs with their cards and handled
// delivery ids older than Retention, so neither prompts nor response_urls
// are kept longer than the operator allows, and the tables stay small.
func (r *Relay) pruneLoop(ctx context.Context, p Pruner) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		cut := r.cfg.Now().Add(-r.cfg.Retention)
		n, err := p.PruneDeliveries(ctx, cut)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("prune deliveries", "err", err)
		} else if n > 0 {
			r.log.Info("pruned deliveries", "count", n)
		}
		pruned, err := p.PruneFinished(ctx, cut)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("prune finished jobs", "err", err)
		} else if pruned.Jobs > 0 {
			r.log.Info("pruned finished jobs", "jobs", pruned.Jobs, "cards", pruned.Cards)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
