package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/relay"
	"github.com/deepagents-slack/slackbot/internal/slackhandler"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// sim is the whole bot on localhost, wired exactly as in production, in
// front of a simulated agent runtime and a simulated Slack Web API. Slack's
// side is played with real signed HTTP requests. The demo and the
// end-to-end tests use it.
type sim struct {
	Runtime *agentstest.Server
	Slack   *slackfake.Server
	Config  Config
	URL     string // the bot's base URL

	svc       *service
	ownsSlack bool
	http      *http.Client
	seq       atomic.Int64
	cancel    context.CancelFunc
	done      chan error
}

const (
	simTeam   = "TTEAM0001"
	simSecret = "sim-signing-secret"
	simAPIKey = "test-key"
)

// simConfig is the configuration a sim starts from; callers adjust it.
func simConfig(dir string) Config {
	return Config{
		SigningSecret: simSecret,
		BotToken:      "xoxb-test",
		APIKey:        simAPIKey,
		Policy: relay.Policy{
			DefaultAgent:     "00000000-0000-4000-8000-000000000001",
			ChannelAgents:    map[string]string{},
			HeadlessChannels: map[string]bool{},
			TestRunChannels:  map[string]bool{},
			OpsUsers:         map[string]bool{},
			ApproverUsers:    map[string]bool{},
			AllowedChannels:  map[string]bool{},
		},
		DatabaseURL:  filepath.Join(dir, "bot.db"),
		SlashCommand: "/agent",
		Reactions:    true,
		Streaming:    true,
		Workers:      16,
		LogLevel:     "info",
		ReplicaName:  "sim",
		OutputPrefix: relay.DefaultOutputPrefix,
	}
}

// startSim starts the fakes and the service. configure may change the
// config (policy, database) before the service starts; the Slack and
// runtime URLs are filled in afterwards.
func startSim(ctx context.Context, dir string, log *slog.Logger, runtime *agentstest.Server, configure func(*Config), slackOpts ...slackfake.Option) (*sim, error) {
	slack := slackfake.New(slackOpts...)
	s, err := startSimOn(ctx, dir, log, runtime, slack, configure)
	if err != nil {
		slack.Close()
		return nil, err
	}
	s.ownsSlack = true
	return s, nil
}

// startSimOn starts the service against a Slack fake the caller owns (and
// closes), e.g. one that outlives a restart of the service.
func startSimOn(ctx context.Context, dir string, log *slog.Logger, runtime *agentstest.Server, slack *slackfake.Server, configure func(*Config)) (*sim, error) {
	s := &sim{
		Runtime: runtime,
		Slack:   slack,
		Config:  simConfig(dir),
		http:    &http.Client{Timeout: 10 * time.Second},
	}
	// The bot paces its writes at the tiers the fake enforces.
	s.Config.SlackTierScale = slack.TierScale()
	if configure != nil {
		configure(&s.Config)
	}
	s.Config.SlackAPIURL = s.Slack.APIURL()
	s.Config.BaseURL = runtime.URL
	// The fake's Managed surfaces live on a fake LangSmith API host.
	s.Config.LangSmithURL = runtime.LangSmithURL
	svc, err := newService(ctx, s.Config, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.store.Close()
		return nil, err
	}
	s.svc = svc
	s.URL = "http://" + ln.Addr().String()
	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan error, 1)
	go func() { s.done <- svc.run(runCtx, ln) }()
	return s, nil
}

// Close stops the service (as SIGTERM would) and the Slack fake it started.
// The runtime belongs to the caller.
func (s *sim) Close() error {
	s.cancel()
	err := <-s.done
	s.svc.store.Close()
	if s.ownsSlack {
		s.Slack.Close()
	}
	return err
}

func (s *sim) nextID() int64 { return s.seq.Add(1) }

// post sends a request signed like Slack signs it.
func (s *sim) post(path, contentType string, body []byte, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackhandler.Sign(s.Config.SigningSecret, ts, body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// Slash sends "/agent <text>" from user in channel and returns the ack.
func (s *sim) Slash(user, channel, text string) (int, string, error) {
	id := s.nextID()
	form := url.Values{
		"token":        {"unused"},
		"team_id":      {simTeam},
		"team_domain":  {"sim"},
		"channel_id":   {channel},
		"channel_name": {"channel"},
		"user_id":      {user},
		"user_name":    {user},
		"command":      {s.Config.SlashCommand},
		"text":         {text},
		"response_url": {s.Slack.ResponseURLFor(fmt.Sprintf("cmd-%d", id), channel, user)},
		"trigger_id":   {fmt.Sprintf("%d.trigger", id)},
		"api_app_id":   {"ASIM"},
	}
	return s.post("/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
}

// Event delivers an Events API envelope; retry > 0 adds Slack's retry headers.
func (s *sim) Event(eventID string, event map[string]any, retry int) (int, error) {
	env := map[string]any{
		"token": "unused", "team_id": simTeam, "api_app_id": "ASIM", "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(), "event": event,
		"authorizations": []map[string]any{{"team_id": simTeam, "user_id": s.Slack.BotUserID(), "is_bot": true}},
	}
	body, err := json.Marshal(env)
	if err != nil {
		return 0, err
	}
	h := http.Header{}
	if retry > 0 {
		h.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		h.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	code, _, err := s.post("/slack/events", "application/json", body, h)
	return code, err
}

// UserSays puts a user's message into the fake Slack and returns it as the
// "message" event Slack would deliver for it.
func (s *sim) UserSays(user, channel, channelType, text, threadTS string) map[string]any {
	ts := s.Slack.UserMessage(channel, user, text, threadTS)
	ev := map[string]any{"type": "message", "channel": channel, "channel_type": channelType,
		"user": user, "text": text, "ts": ts, "event_ts": ts}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	return ev
}

// UserShares puts a user's message with files (from Slack.AddFile) into the
// fake Slack and returns the file_share "message" event Slack delivers for it.
func (s *sim) UserShares(user, channel, channelType, text, threadTS string, files ...slackfake.File) map[string]any {
	ts := s.Slack.UserFileShare(channel, user, text, threadTS, files...)
	list := make([]map[string]any, 0, len(files))
	for _, f := range files {
		list = append(list, map[string]any{
			"id": f.ID, "name": f.Name, "title": f.Title, "mimetype": f.Mimetype, "filetype": f.Filetype,
			"size": f.Size, "url_private": f.URLPrivate, "url_private_download": f.URLPrivateDownload, "mode": "hosted",
		})
	}
	ev := map[string]any{"type": "message", "subtype": "file_share", "channel": channel, "channel_type": channelType,
		"user": user, "text": text, "ts": ts, "event_ts": ts, "files": list, "upload": false}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	return ev
}

// AsMention turns a message event into the app_mention event Slack sends
// alongside it.
func AsMention(msg map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range msg {
		if k != "channel_type" && k != "subtype" {
			m[k] = v
		}
	}
	m["type"] = "app_mention"
	return m
}

// Click presses a button of a bot message.
func (s *sim) Click(user, channel, messageTS, threadTS, actionID, value string) (int, error) {
	return s.ClickElement(user, channel, messageTS, threadTS, "button", actionID, value)
}

// ClickElement is a click on an interactive element of elementType, such as
// one of the two buttons of a feedback_buttons element (its value is the
// clicked button's).
func (s *sim) ClickElement(user, channel, messageTS, threadTS, elementType, actionID, value string) (int, error) {
	p := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": simTeam},
		"user":       map[string]any{"id": user, "name": user},
		"channel":    map[string]any{"id": channel},
		"container":  map[string]any{"type": "message", "channel_id": channel, "message_ts": messageTS, "thread_ts": threadTS},
		"trigger_id": fmt.Sprintf("%d.trigger", s.nextID()),
		"actions":    []map[string]any{{"type": elementType, "action_id": actionID, "block_id": "b", "value": value, "action_ts": "1"}},
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return 0, err
	}
	body := url.Values{"payload": {string(raw)}}.Encode()
	code, _, err := s.post("/slack/interactions", "application/x-www-form-urlencoded", []byte(body), nil)
	return code, err
}

// WaitFor waits until cond holds. It checks on every Slack call and, since
// the bot's own bookkeeping (the store) changes without one, every 10 ms.
func (s *sim) WaitFor(ctx context.Context, cond func(*slackfake.Server) bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond(s.Slack) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a condition: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// ThreadDone reports whether the bot has finished all work in a Slack
// thread: its jobs are final and it shows a reply that is not in progress.
func (s *sim) ThreadDone(channel, root string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	key := slackbot.Key{TeamID: simTeam, ChannelID: channel, RootTS: root}
	n, err := s.svc.store.UnfinishedJobs(ctx, slackbot.ThreadID(key))
	return err == nil && n == 0 && threadSettled(s.Slack, channel, root)
}

// buttonValue finds the value of the button with actionID in a message's blocks.
func buttonValue(blocks json.RawMessage, actionID string) string {
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(blocks, &bs)
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value
			}
		}
	}
	return ""
}
