// Package bottest is the world around the bot, for its end-to-end tests and
// its demo: a fake Slack (slackfake) and a fake agent runtime (agentstest)
// started together, Slack's side of the conversation played as real signed
// HTTP requests, an optional recording proxy between the bot and the
// runtime, and readers of what Slack shows.
//
// The bot itself is not part of the package (it lives in package main):
// the caller passes a Bot hook that starts it against a World, so tests
// and the demo build their environment the same way, and a test can stop
// the bot and start it again in the same world (a restart).
package bottest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// The workspace and credentials the world's Slack and runtime accept.
const (
	Team     = "TTEAM0001"
	Secret   = "sim-signing-secret"
	APIKey   = "test-key"
	BotToken = "xoxb-test"
)

// Bot starts the bot against w (its Slack at w.Slack.APIURL(), its runtime
// at w.RuntimeURL(), its public URL w.PublicURL()) and returns the base URL
// it serves Slack's requests on and a function that stops it as SIGTERM
// would. A nil Bot starts none: the bot runs elsewhere (a process).
type Bot func(ctx context.Context, w *World) (url string, stop func() error, err error)

// World is the fakes around one bot. Its methods are safe for concurrent
// use, except StartBot, StopBot and Close, which change the bot.
type World struct {
	Runtime *agentstest.Server
	Slack   *slackfake.Server
	// Proxy is the recording proxy between the bot and the runtime, nil
	// unless WithRuntimeProxy.
	Proxy *RuntimeProxy
	// Hooks stands for the bot's public URL, nil unless WithWebhooks.
	Hooks *HookRecorder

	// URL is the running bot's base URL ("" before a bot started).
	URL string

	stopBot func() error
	closers []func() // what the world started, closed in reverse
	http    *http.Client
	seq     atomic.Int64
	once    sync.Once
}

type config struct {
	runtime     *agentstest.Server
	slack       *slackfake.Server
	runtimeOpts []agentstest.Option
	slackOpts   []slackfake.Option
	agents      map[string]agentstest.Script
	proxy       *proxyConfig
	webhooks    bool
}

// Option changes how Start builds the world.
type Option func(*config)

// WithRuntime makes the world use a runtime the caller owns (and closes),
// e.g. one that outlives the world in a restart test.
func WithRuntime(rt *agentstest.Server) Option { return func(c *config) { c.runtime = rt } }

// WithSlack makes the world use a Slack fake the caller owns (and closes).
func WithSlack(s *slackfake.Server) Option { return func(c *config) { c.slack = s } }

// WithRuntimeOptions configures the runtime the world starts.
func WithRuntimeOptions(opts ...agentstest.Option) Option {
	return func(c *config) { c.runtimeOpts = append(c.runtimeOpts, opts...) }
}

// WithSlackOptions configures the Slack fake the world starts.
func WithSlackOptions(opts ...slackfake.Option) Option {
	return func(c *config) { c.slackOpts = append(c.slackOpts, opts...) }
}

// WithAgent adds an agent to the runtime. A nil script adds nothing (the
// runtime's agents are the caller's).
func WithAgent(id string, script agentstest.Script) Option {
	return func(c *config) {
		if script == nil {
			return
		}
		if c.agents == nil {
			c.agents = map[string]agentstest.Script{}
		}
		c.agents[id] = script
	}
}

// WithRuntimeProxy puts a RuntimeProxy between the bot and the runtime:
// every root token of a run stream takes tokenDelay to reach the bot, and a
// root call of a tool named in slowTools holds the stream for its duration.
func WithRuntimeProxy(tokenDelay time.Duration, slowTools map[string]time.Duration) Option {
	return func(c *config) { c.proxy = &proxyConfig{tokenDelay: tokenDelay, slowTools: slowTools} }
}

// WithWebhooks gives the bot a public URL (PublicURL) where a HookRecorder
// records the run completion webhooks and forwards them to the bot.
func WithWebhooks() Option { return func(c *config) { c.webhooks = true } }

// Start builds the world and starts bot in it (a nil bot starts none).
func Start(ctx context.Context, bot Bot, opts ...Option) (*World, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	w := &World{http: &http.Client{Timeout: 10 * time.Second}}
	w.Runtime = c.runtime
	if w.Runtime == nil {
		w.Runtime = agentstest.NewServer(c.runtimeOpts...)
		w.closers = append(w.closers, w.Runtime.Close)
	}
	for id, script := range c.agents {
		w.Runtime.AddAgent(id, script)
	}
	w.Slack = c.slack
	if w.Slack == nil {
		w.Slack = slackfake.New(c.slackOpts...)
		w.closers = append(w.closers, w.Slack.Close)
	}
	if c.proxy != nil {
		p, err := newRuntimeProxy(w.Runtime.URL, *c.proxy)
		if err != nil {
			w.closeFakes()
			return nil, err
		}
		w.Proxy = p
		w.closers = append(w.closers, p.Close)
	}
	if c.webhooks {
		w.Hooks = newHookRecorder()
		w.closers = append(w.closers, w.Hooks.Close)
	}
	if bot != nil {
		if err := w.StartBot(ctx, bot); err != nil {
			w.closeFakes()
			return nil, err
		}
	}
	return w, nil
}

// StartBot starts a bot in the world, after StopBot (a restart) or when
// Start was given none.
func (w *World) StartBot(ctx context.Context, bot Bot) error {
	if w.stopBot != nil {
		return errors.New("bottest: a bot is already running; stop it first")
	}
	url, stop, err := bot(ctx, w)
	if err != nil {
		return fmt.Errorf("start the bot: %w", err)
	}
	w.URL = url
	w.stopBot = stop
	if w.Hooks != nil {
		if err := w.Hooks.setTarget(url); err != nil {
			return errors.Join(err, w.StopBot())
		}
	}
	return nil
}

// StopBot stops the running bot (as SIGTERM would) and returns what it
// stopped with; the fakes stay up. Without a bot it does nothing.
func (w *World) StopBot() error {
	if w.stopBot == nil {
		return nil
	}
	stop := w.stopBot
	w.stopBot = nil
	return stop()
}

// Close stops the bot, then the fakes the world started (not those given
// with WithRuntime or WithSlack). It returns what the bot stopped with.
func (w *World) Close() error {
	err := w.StopBot()
	w.closeFakes()
	return err
}

func (w *World) closeFakes() {
	w.once.Do(func() {
		for i := len(w.closers) - 1; i >= 0; i-- {
			w.closers[i]()
		}
	})
}

// RuntimeURL is the runtime's API base URL as the bot must see it: through
// the proxy when there is one.
func (w *World) RuntimeURL() string {
	if w.Proxy != nil {
		return w.Proxy.URL() + agentstest.BasePath
	}
	return w.Runtime.URL
}

// PublicURL is the bot's public URL when the world records webhooks, else "".
func (w *World) PublicURL() string {
	if w.Hooks != nil {
		return w.Hooks.URL()
	}
	return ""
}

// NextID is a number unique in this world (trigger ids, event ids).
func (w *World) NextID() int64 { return w.seq.Add(1) }
