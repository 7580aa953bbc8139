package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/relay"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// sim is the whole bot on localhost, wired exactly as in production, in a
// bottest.World: a simulated agent runtime and Slack Web API, with Slack's
// side played as real signed HTTP requests. The demo and the end-to-end
// tests use it.
type sim struct {
	*bottest.World
	Config Config

	svc *service
	bot bottest.Bot // starts the service (again, after StopBot)
}

// simConfig is the configuration a sim starts from; callers adjust it.
func simConfig(dir string) Config {
	return Config{
		SigningSecret: bottest.Secret,
		BotToken:      bottest.BotToken,
		APIKey:        bottest.APIKey,
		Policy: relay.Policy{
			DefaultAgent:     "00000000-0000-4000-8000-000000000001",
			ChannelAgents:    map[string]string{},
			HeadlessChannels: map[string]bool{},
			TestRunChannels:  map[string]bool{},
			OpsUsers:         map[string]bool{},
			ApproverUsers:    map[string]bool{},
			AllowedChannels:  map[string]bool{},
		},
		DatabaseURL:     filepath.Join(dir, "bot.db"),
		SlashCommand:    bottest.SlashCommand,
		Reactions:       true,
		Streaming:       true,
		MaxFollowedRuns: relay.DefaultMaxFollowed,
		LogLevel:        "info",
		ReplicaName:     "sim",
		OutputPrefix:    relay.DefaultOutputPrefix,
	}
}

// startSim builds a world (opts) and starts the service in it on the store
// in dir. configure may change the config (policy, database) before the
// service starts; the world's URLs are filled in afterwards.
func startSim(ctx context.Context, dir string, log *slog.Logger, configure func(*Config), opts ...bottest.Option) (*sim, error) {
	s := &sim{}
	s.bot = func(ctx context.Context, w *bottest.World) (string, func() error, error) {
		return s.startService(ctx, w, dir, log, configure)
	}
	w, err := bottest.Start(ctx, s.bot, opts...)
	if err != nil {
		return nil, err
	}
	s.World = w
	return s, nil
}

// startService is the sim's bottest.Bot: the service as `bot serve` runs
// it, on a local port.
func (s *sim) startService(ctx context.Context, w *bottest.World, dir string, log *slog.Logger, configure func(*Config)) (string, func() error, error) {
	cfg := simConfig(dir)
	// The bot paces its writes at the tiers the fake enforces.
	cfg.SlackTierScale = w.Slack.TierScale()
	if configure != nil {
		configure(&cfg)
	}
	cfg.SlackAPIURL = w.Slack.APIURL()
	cfg.BaseURL = w.RuntimeURL()
	// The fake's Managed surfaces live on a fake LangSmith API host.
	cfg.LangSmithURL = w.Runtime.LangSmithURL
	if pub := w.PublicURL(); pub != "" {
		cfg.PublicURL = pub
	}
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.store.Close()
		return "", nil, err
	}
	s.svc, s.Config = svc, cfg
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.run(runCtx, ln) }()
	stop := func() error {
		cancel()
		err := <-done
		svc.store.Close()
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// slashAndWait sends a slash command and waits for its thread to get a
// final answer, failure note or approval card.
func (s *sim) slashAndWait(ctx context.Context, user, channel, text string) error {
	_, err := s.SlashThread(ctx, user, channel, text)
	return err
}

// SlashThread sends a slash command and returns the root of the thread it
// started once the bot finished its work there.
func (s *sim) SlashThread(ctx context.Context, user, channel, text string) (string, error) {
	before := bottest.LastRoot(s.Slack, channel)
	code, body, err := s.Slash(user, channel, text)
	if err != nil {
		return "", err
	}
	if code != 200 || body != "" {
		return "", fmt.Errorf("slash command answered %d %q, want an empty ack", code, body)
	}
	var root string
	err = s.WaitFor(ctx, func(f *slackfake.Server) bool {
		root = bottest.LastRoot(f, channel)
		return root != before && s.ThreadDone(channel, root)
	})
	return root, err
}

// deliverAndWait delivers a message event and waits until the thread it
// belongs to has `answers` settled bot replies.
func (s *sim) deliverAndWait(ctx context.Context, eventID string, ev map[string]any, channel string, answers int) error {
	if _, err := s.Event(eventID, ev, 0); err != nil {
		return err
	}
	root, _ := ev["thread_ts"].(string)
	if root == "" {
		root = ev["ts"].(string)
	}
	return s.WaitFor(ctx, func(f *slackfake.Server) bool {
		n := 0
		for _, m := range f.Thread(channel, root) {
			if m.IsBot() && !m.Streaming && !bottest.IsPlaceholder(m) {
				n++
			}
		}
		return n >= answers && s.ThreadDone(channel, root)
	})
}

// ThreadDone reports whether the bot has finished all work in a Slack
// thread: its jobs are final and it shows a reply that is not in progress.
func (s *sim) ThreadDone(channel, root string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	key := slackbot.Key{TeamID: bottest.Team, ChannelID: channel, RootTS: root}
	n, err := s.svc.store.UnfinishedJobs(ctx, slackbot.ThreadID(key))
	return err == nil && n == 0 && bottest.ThreadSettled(s.Slack, channel, root)
}
