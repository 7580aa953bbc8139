package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// AssistantThreadContextChanged remembers the channel the user now has in
// view beside an AI app thread: the thread's next runs carry it.
func (r *Relay) AssistantThreadContextChanged(ctx context.Context, t slackbot.AssistantThread) error {
	return r.rememberContext(ctx, t)
}

// rememberContext stores an AI app thread's context channel, durably
// before the ack. Redeliveries and events arriving out of order are
// harmless: the store keeps the newest event's channel.
func (r *Relay) rememberContext(ctx context.Context, t slackbot.AssistantThread) error {
	if t.ContextChannelID == "" {
		return nil // nothing in view (e.g. opened from the app's own pane)
	}
	at, ok := eventTime(t.EventTS)
	if !ok {
		at = r.cfg.Now()
	}
	c := slackbot.AssistantContext{
		Key:       slackbot.Key{TeamID: t.TeamID, ChannelID: t.ChannelID, RootTS: t.ThreadTS},
		ChannelID: t.ContextChannelID,
		EventAt:   at,
	}
	stored, err := r.cfg.Store.SetAssistantContext(ctx, c)
	if err != nil {
		return fmt.Errorf("record assistant thread context: %w", err)
	}
	r.log.Debug("assistant thread context", "channel", t.ChannelID, "thread_ts", t.ThreadTS,
		"context_channel", t.ContextChannelID, "stored", stored)
	return nil
}

// contextChannel is the latest context channel of the AI app thread a run
// belongs to, "" for other conversations. A failed read leaves it out
// rather than hold the run up: it is a hint for the agent.
func (r *Relay) contextChannel(ctx context.Context, log *slog.Logger, key slackbot.Key, p payload) string {
	// AI app threads live in the user's DM with the bot.
	if p.ChannelType != "im" && !strings.HasPrefix(key.ChannelID, "D") {
		return ""
	}
	c, err := r.cfg.Store.AssistantContextOf(ctx, key)
	if err != nil {
		if !errors.Is(err, slackbot.ErrNotFound) {
			log.Warn("look up assistant thread context", "err", err)
		}
		return ""
	}
	return c.ChannelID
}

// eventTime reads a Slack event_ts ("1715873754.429808": seconds, then
// microseconds) exactly; float parsing would round the microseconds away.
func eventTime(ts string) (time.Time, bool) {
	secs, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || s <= 0 || len(frac) > 6 {
		return time.Time{}, false
	}
	var us int64
	if frac != "" {
		frac += strings.Repeat("0", 6-len(frac))
		if us, err = strconv.ParseInt(frac, 10, 64); err != nil || us < 0 {
			return time.Time{}, false
		}
	}
	return time.Unix(s, us*1000).UTC(), true
}
