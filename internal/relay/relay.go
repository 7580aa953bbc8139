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

// config holds the relay's dependencies and knobs, filled by New's
// arguments and Options.
type config struct {
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
	cfg     config
	log     *slog.Logger
	metrics Metrics
	wake    chan struct{} // work recorded by this process
	// listenWake is work another process announced (WithListener).
	listenWake chan struct{}
	webhooks   *webhookHub
	courtesy   *courtesy // ordered reactions and AI app status
	tasks      *tasks    // background work; Close waits for it
	leases     *leaseKeeper
}

// Option sets an optional dependency or knob of the relay. A zero value
// (0, "", nil) keeps New's default, as the option had not been given.
type Option func(*config)

// WithListener wakes the idle dispatcher when another process records work in the shared store (PostgreSQL LISTEN/NOTIFY).
func WithListener(l JobListener) Option { return func(c *config) { c.Listener = l } }

// WithFeedback sends users' 👍/👎 to f (LangSmith) as feedback on runs.
func WithFeedback(f FeedbackSink) Option { return func(c *config) { c.LangSmith = f } }

// WithPolicy sets the per-channel configuration: which agent answers where, headless and test-run channels, who may do what.
func WithPolicy(p Policy) Option { return func(c *config) { c.Policy = p } }

// WithLogger sets the relay's logger; nil (the default) logs nothing.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.Logger = l } }

// WithMetrics sets where operational counters go; nil (the default) records nothing.
func WithMetrics(m Metrics) Option { return func(c *config) { c.Metrics = m } }

// WithSlashCommand sets the bot's slash command as users type it (default "/agent").
func WithSlashCommand(cmd string) Option { return func(c *config) { c.SlashCommand = cmd } }

// WithOwner sets this replica's name in leases (default "bot").
func WithOwner(name string) Option { return func(c *config) { c.Owner = name } }

// WithMaxFollowed sets the safety limit on jobs this replica works at once (default DefaultMaxFollowed).
func WithMaxFollowed(n int) Option { return func(c *config) { c.MaxFollowed = n } }

// WithLeaseTTL sets how long a job's lease lasts without renewal (default 30s).
func WithLeaseTTL(d time.Duration) Option { return func(c *config) { c.LeaseTTL = d } }

// WithPollInterval sets how often an idle replica looks for unannounced work (default DefaultPollInterval).
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.PollInterval = d } }

// WithReactions marks users' messages when picked up and when answered.
func WithReactions(on bool) Option { return func(c *config) { c.Reactions = on } }

// WithStreaming tries Slack's chat.startStream for live replies.
func WithStreaming(on bool) Option { return func(c *config) { c.Streaming = on } }

// WithWebhook gives runs a completion webhook under the bot's public base URL, signed with secret.
func WithWebhook(baseURL string, secret []byte) Option {
	return func(c *config) { c.WebhookURL, c.WebhookSecret = baseURL, secret }
}

// WithStreamSubgraphs asks runtimes for subagents' own events (stream_subgraphs); off by default.
func WithStreamSubgraphs(on bool) Option { return func(c *config) { c.StreamSubgraphs = on } }

// WithThreadPollMax caps the backoff while polling a thread for its result (default 10s).
func WithThreadPollMax(d time.Duration) Option { return func(c *config) { c.ThreadPollMax = d } }

// WithRetryBase sets the wait after a job's first failed attempt, doubled for each further one (default 1s).
func WithRetryBase(d time.Duration) Option { return func(c *config) { c.RetryBase = d } }

// WithStreamIdleTimeout sets how long a run stream may stay silent before it is rejoined (default DefaultStreamIdleTimeout).
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(c *config) { c.StreamIdleTimeout = d }
}

// WithMaxRunAge sets how long a run is followed before the user is told and the worker moves on (default DefaultMaxRunAge).
func WithMaxRunAge(d time.Duration) Option { return func(c *config) { c.MaxRunAge = d } }

// WithRetention sets how long finished jobs, cards and handled deliveries are kept (default DefaultRetention, at least MinRetention).
func WithRetention(d time.Duration) Option { return func(c *config) { c.Retention = d } }

// WithOutputPrefix shares the agent's files under prefix (e.g. "/outputs/") with the answer; "" (the default) shares none.
func WithOutputPrefix(prefix string) Option { return func(c *config) { c.OutputPrefix = prefix } }

// WithOutputLimits bounds the output files shared per answer and each one's size (defaults DefaultOutputMaxFiles, DefaultOutputMaxBytes).
func WithOutputLimits(maxFiles, maxBytes int) Option {
	return func(c *config) { c.OutputMaxFiles, c.OutputMaxBytes = maxFiles, maxBytes }
}

// WithThreadContextChars bounds the earlier thread messages a run starts with (default DefaultThreadContextChars).
func WithThreadContextChars(n int) Option { return func(c *config) { c.ThreadContextChars = n } }

// WithFileLimits bounds one file shared with a prompt and all files of one message (defaults DefaultFileMaxBytes, DefaultMessageFilesBytes).
func WithFileLimits(fileMax, messageMax int64) Option {
	return func(c *config) { c.FileMaxBytes, c.MessageFilesBytes = fileMax, messageMax }
}

// WithSuggestedPrompts sets the prompts offered when a user opens the bot as an AI app.
func WithSuggestedPrompts(p []slackpost.Prompt) Option {
	return func(c *config) { c.SuggestedPrompts = p }
}

// WithClock sets the clock for what the core records (card, decision, stop, feedback times, retention cut-offs); default time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.Now = now } }

// New builds a relay over store, runtime and slack (all required), applies
// opts, and fills the defaults of the knobs left unset.
func New(store Store, runtime Runtime, slack Slack, opts ...Option) (*Relay, error) {
	cfg := config{Store: store, Agents: runtime, Slack: slack}
	for _, o := range opts {
		o(&cfg)
	}
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
	r := &Relay{
		cfg:        cfg,
		log:        cfg.Logger,
		metrics:    m,
		wake:       make(chan struct{}, 1),
		listenWake: make(chan struct{}, 1),
		webhooks:   newWebhookHub(),
		courtesy:   newCourtesy(cfg.Logger, t),
		tasks:      t,
	}
	r.leases = newLeaseKeeper(r)
	return r, nil
}

// Close waits, until ctx ends, for the background work the relay started
// (reactions, card updates, ephemeral notes, feedback), then cancels what
// is left; and for the lease keeper's goroutine, once no lease is held. Call it after Run returned and the edges stopped taking Slack's
// requests, and before the store closes; background work offered after it
// is dropped and logged.
func (r *Relay) Close(ctx context.Context) error {
	return errors.Join(r.tasks.Close(ctx), r.leases.wait(ctx))
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
