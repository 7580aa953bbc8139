package slackpost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// Poster writes to Slack, every write through its workspace's Scheduler:
// paced at the method's tier, retried after 429 (Slack then did nothing,
// so a retry cannot duplicate) and never after connection errors or 5xx,
// where the write may have happened.
type Poster struct {
	api   *slack.Client
	http  *http.Client
	log   *slog.Logger
	clk   timerClock
	sched *Scheduler
}

// Option configures a Poster.
type Option func(*Poster)

// WithHTTPClient sets the client used for response_url posts (the Web API
// calls use the *slack.Client's own).
func WithHTTPClient(c *http.Client) Option {
	return func(p *Poster) {
		if c != nil {
			p.http = c
		}
	}
}

// WithLogger sets the logger. Message bodies are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(p *Poster) {
		if l != nil {
			p.log = l
		}
	}
}

// WithScheduler sends the Poster's writes through s, the scheduler of the
// workspace api's token belongs to (default: a scheduler of its own, at
// Slack's documented tiers).
func WithScheduler(s *Scheduler) Option {
	return func(p *Poster) {
		if s != nil {
			p.sched = s
		}
	}
}

// New wraps api. Configure api without slack.OptionRetry: the Poster's
// scheduler does the 429 handling.
func New(api *slack.Client, opts ...Option) *Poster {
	p := &Poster{
		api:  api,
		http: &http.Client{Timeout: 10 * time.Second},
		log:  slog.New(slog.DiscardHandler), // as every package: no logger, no lines
		clk:  realClock{},
	}
	for _, o := range opts {
		o(p)
	}
	if p.sched == nil {
		p.sched = NewScheduler(1)
	}
	return p
}

// Scheduler is the scheduler the Poster writes through.
func (p *Poster) Scheduler() *Scheduler { return p.sched }

// do makes one call of method through the scheduler; see Scheduler.Do.
func (p *Poster) do(ctx context.Context, method, channel string, prio Priority, call func() error) error {
	return p.sched.Do(ctx, Write{Method: method, Channel: channel, Priority: prio, Call: func(context.Context) error { return call() }})
}

// Prompt is a suggested prompt of an assistant thread.
type Prompt struct {
	Title   string
	Message string
}

// Post posts m in channel, as a reply in threadTS unless it is empty, and
// returns the new message's ts.
func (p *Poster) Post(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	opts := messageOptions(m)
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	var ts string
	err := p.do(ctx, "chat.postMessage", channel, PriorityFinal, func() (err error) {
		_, ts, err = p.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack chat.postMessage: %w", err)
	}
	return ts, nil
}

// Update replaces the message at ts with m.
func (p *Poster) Update(ctx context.Context, channel, ts string, m Message) error {
	opts := messageOptions(m)
	err := p.do(ctx, "chat.update", channel, PriorityFinal, func() error {
		_, _, _, err := p.api.UpdateMessageContext(ctx, channel, ts, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack chat.update: %w", err)
	}
	return nil
}

// messageOptions are the chat.postMessage/update options for m. The
// notification text gets a last Defuse: it is what Slack notifies with, and
// callers build it from user and agent text.
func messageOptions(m Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(slacktext.Defuse(m.Text), false)}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	return opts
}

// Ephemeral shows text (mrkdwn) to user only, in channel. Broadcast
// mentions in text are made inert.
func (p *Poster) Ephemeral(ctx context.Context, channel, user, text string) error {
	text = slacktext.Defuse(text)
	err := p.do(ctx, "chat.postEphemeral", channel, PriorityNormal, func() error {
		_, err := p.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack chat.postEphemeral: %w", err)
	}
	return nil
}

// Respond answers a slash command or action through its response_url, as a
// new ephemeral message (the original is kept). It works where the bot is
// not a member, which is how users learn that it cannot post there.
// Broadcast mentions in text (mrkdwn) are made inert.
func (p *Poster) Respond(ctx context.Context, responseURL, text string) error {
	text = slacktext.Defuse(text)
	body, err := json.Marshal(struct {
		Text            string `json:"text"`
		ResponseType    string `json:"response_type"`
		ReplaceOriginal bool   `json:"replace_original"`
	}{text, slack.ResponseTypeEphemeral, false})
	if err != nil {
		return fmt.Errorf("slack response_url: %w", err)
	}
	err = p.do(ctx, "response_url", "", PriorityNormal, func() error { return p.postResponseURL(ctx, responseURL, body) })
	if err != nil {
		return fmt.Errorf("slack response_url: %w", err)
	}
	return nil
}

func (p *Poster) postResponseURL(ctx context.Context, responseURL string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("invalid response_url") // the URL is a credential: keep it out of errors
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s response_url: %w", ue.Op, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			return &slack.RateLimitedError{RetryAfter: time.Duration(s) * time.Second}
		}
	}
	var parsed struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(reply, &parsed) == nil && !parsed.OK && parsed.Error != "" {
		return slack.SlackErrorResponse{Err: parsed.Error}
	}
	if resp.StatusCode/100 != 2 {
		if code := strings.TrimSpace(string(reply)); isErrorCode(code) {
			return slack.SlackErrorResponse{Err: code}
		}
		return slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	return nil
}

// isErrorCode reports whether s looks like a Slack error code
// ("expired_url"), as response_url sometimes answers in plain text.
func isErrorCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") == ""
}

// React adds the emoji reaction name to a message; already there is fine.
func (p *Poster) React(ctx context.Context, channel, ts, name string) error {
	err := p.do(ctx, "reactions.add", channel, PriorityNormal, func() error {
		return p.api.AddReactionContext(ctx, name, slack.NewRefToMessage(channel, ts))
	})
	if err != nil && SlackErrorCode(err) != "already_reacted" {
		return fmt.Errorf("slack reactions.add: %w", err)
	}
	return nil
}

// Unreact removes the bot's reaction name from a message; already gone is
// fine.
func (p *Poster) Unreact(ctx context.Context, channel, ts, name string) error {
	err := p.do(ctx, "reactions.remove", channel, PriorityNormal, func() error {
		return p.api.RemoveReactionContext(ctx, name, slack.NewRefToMessage(channel, ts))
	})
	if err != nil && SlackErrorCode(err) != "no_reaction" {
		return fmt.Errorf("slack reactions.remove: %w", err)
	}
	return nil
}

// SetAssistantStatus sets (or, with "", clears) the "is thinking…" status
// of a thread, with optional loading messages.
func (p *Poster) SetAssistantStatus(ctx context.Context, channel, threadTS, status string, loading ...string) error {
	return p.do(ctx, "assistant.threads.setStatus", channel, PriorityNormal, func() error { return p.setStatus(ctx, channel, threadTS, status, loading) })
}

// setStatus is one assistant.threads.setStatus call.
func (p *Poster) setStatus(ctx context.Context, channel, threadTS, status string, loading []string) error {
	params := slack.AssistantThreadsSetStatusParameters{ChannelID: channel, ThreadTS: threadTS, Status: status, LoadingMessages: loading}
	if err := p.api.SetAssistantThreadsStatusContext(ctx, params); err != nil {
		return fmt.Errorf("slack assistant.threads.setStatus: %w", err)
	}
	return nil
}

// SetSuggestedPrompts offers prompts in an assistant thread.
func (p *Poster) SetSuggestedPrompts(ctx context.Context, channel, threadTS, title string, prompts []Prompt) error {
	params := slack.AssistantThreadsSetSuggestedPromptsParameters{ChannelID: channel, ThreadTS: threadTS, Title: title}
	for _, pr := range prompts {
		params.AddPrompt(pr.Title, pr.Message)
	}
	err := p.do(ctx, "assistant.threads.setSuggestedPrompts", channel, PriorityNormal, func() error {
		return p.api.SetAssistantThreadsSuggestedPromptsContext(ctx, params)
	})
	if err != nil {
		return fmt.Errorf("slack assistant.threads.setSuggestedPrompts: %w", err)
	}
	return nil
}

// OpenModal opens view for the user who produced triggerID (valid for 3 s).
func (p *Poster) OpenModal(ctx context.Context, triggerID string, view slack.ModalViewRequest) error {
	err := p.do(ctx, "views.open", "", PriorityFinal, func() error {
		_, err := p.api.OpenViewContext(ctx, triggerID, view)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack views.open: %w", err)
	}
	return nil
}

// clock is time as the Scheduler sees it; tests use a fake one.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// timerClock is time as the Poster sees it: its live replies also run
// their flushes later, on a timer rather than a goroutine.
type timerClock interface {
	clock
	// AfterFunc calls f in its own goroutine after d, unless stopped.
	AfterFunc(d time.Duration, f func()) stopper
}

// stopper is a pending AfterFunc.
type stopper interface {
	// Stop prevents the call; false when it was made (or stopped) already.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                              { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time      { return time.After(d) }
func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
