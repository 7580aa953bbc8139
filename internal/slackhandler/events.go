package slackhandler

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/deepagents-slack/slackbot"
)

// Inner event types the handler dispatches. Everything else is acked and
// dropped before its body is decoded, so an event type slack-go does not
// know never causes a retry.
const (
	eventAppMention             = "app_mention"
	eventMessage                = "message"
	eventAssistantThreadStarted = "assistant_thread_started"
	eventAssistantContext       = "assistant_thread_context_changed"
	eventAgentSessionStopped    = "agent_session_stopped"
)

// envelope is the outer Events API body: enough to route it and to know the
// bot's identity. The inner event is kept raw and decoded once, into
// slack-go's type for its event type (slackevents.ParseEvent would decode
// the body five times over, on the ack path of every event).
type envelope struct {
	Type           string `json:"type"`
	EventID        string `json:"event_id"`
	TeamID         string `json:"team_id"`
	Authorizations []struct {
		UserID string `json:"user_id"`
		IsBot  bool   `json:"is_bot"`
	} `json:"authorizations"`
	Event json.RawMessage `json:"event"`
}

// innerType is the type of an inner event, read before choosing its Go type.
type innerType struct {
	Type string `json:"type"`
}

// botUserIDs returns the user ids that are this bot: the configured one and
// the bot installations the event was delivered for. Authorizations of user
// tokens name a human and must not silence that human.
func (h *Handler) botUserIDs(env envelope) []string {
	ids := []string{h.botUserID}
	for _, a := range env.Authorizations {
		if a.IsBot && a.UserID != "" && a.UserID != h.botUserID {
			ids = append(ids, a.UserID)
		}
	}
	return nonEmpty(ids)
}

// serveEvent handles POST /slack/events (already verified).
func (h *Handler) serveEvent(w http.ResponseWriter, r *http.Request) {
	log := h.reqLogger(slog.String("route", RouteEvents))
	if !hasMediaType(r, "application/json") {
		log.Warn("unexpected content type", slog.String("content_type", r.Header.Get("Content-Type")))
		badEvent(w)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		log.Warn("reading body", slog.Any("err", err))
		badEvent(w)
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		log.Warn("malformed event body", slog.Any("err", err))
		badEvent(w)
		return
	}
	log.with(slog.String("type", env.Type))

	switch env.Type {
	case slackevents.URLVerification:
		h.serveURLVerification(w, body, log)
	case slackevents.AppRateLimited:
		log.Warn("slack is rate limiting this app's events", slog.String("team", env.TeamID))
		if h.metrics != nil {
			h.metrics.AppRateLimited()
		}
		ackEmpty(w)
	case slackevents.CallbackEvent:
		h.serveCallback(w, r, env, log)
	default:
		log.Info("ignoring unknown outer event type")
		ackEmpty(w)
	}
}

func (h *Handler) serveURLVerification(w http.ResponseWriter, body []byte, log *reqLog) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		log.Warn("malformed url_verification", slog.Any("err", err))
		badEvent(w)
		return
	}
	uv, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
	if !ok || uv.Challenge == "" {
		log.Warn("url_verification without a challenge")
		badEvent(w)
		return
	}
	log.Info("answering url_verification")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, uv.Challenge)
}

// serveCallback handles an event_callback: note a redelivery, decode the
// inner event, turn it into the dispatcher call it asks for, and ack once
// that call has recorded the work.
func (h *Handler) serveCallback(w http.ResponseWriter, r *http.Request, env envelope, log *reqLog) {
	log.with(slog.String("event_id", env.EventID), slog.String("team", env.TeamID))
	retryNum, retryReason := h.noteRetry(r.Header, log)
	var inner innerType
	if len(env.Event) > 0 {
		if err := json.Unmarshal(env.Event, &inner); err != nil {
			log.Warn("malformed inner event", slog.Any("err", err))
			badEvent(w)
			return
		}
	}
	if inner.Type == "" {
		log.Warn("event_callback without an inner event type")
		badEvent(w)
		return
	}
	log.with(slog.String("event_type", inner.Type))
	if !handledEvent(inner.Type) {
		log.Debug("ignoring event type")
		ackEmpty(w)
		return
	}
	ev, ok := h.decodeEvent(env.Event, inner.Type, log)
	if !ok {
		ackEmpty(w) // redelivering the same bytes cannot help
		return
	}
	work := h.eventWork(ev, inner.Type, env, retryNum, retryReason, log)
	if work == nil {
		ackEmpty(w)
		return
	}
	h.dispatchEvent(w, r, work, log)
}

// handledEvent reports whether the bot acts on an inner event type; others
// are acked and ignored.
func handledEvent(t string) bool {
	switch t {
	case eventAppMention, eventMessage, eventAssistantThreadStarted, eventAssistantContext, eventAgentSessionStopped:
		return true
	}
	return false
}

// noteRetry logs and counts a redelivered event and returns its retry
// headers.
func (h *Handler) noteRetry(header http.Header, log *reqLog) (int, string) {
	retryNum, retryReason := retryHeaders(header)
	if retryNum > 0 {
		log.with(slog.Int("retry_num", retryNum), slog.String("retry_reason", retryReason))
		log.Info("slack redelivered an event")
		if h.metrics != nil {
			h.metrics.EventRetried(retryNum, retryReason)
		}
	}
	return retryNum, retryReason
}

// decodedEvent is what the bot reads of a handled inner event: a user's
// message (isMsg), an AI app thread, or Slack's own Stop in one.
type decodedEvent struct {
	fields messageFields
	thread slackbot.AssistantThread
	stop   slackbot.SessionStop
	isMsg  bool
}

// decodeEvent reads a handled inner event with slack-go's types, or, when
// they refuse it (since v0.34 one block type or field they do not expect
// rejects the whole event), reads the few fields the bot needs itself
// rather than lose a user's message. ok is false when neither can.
func (h *Handler) decodeEvent(event []byte, eventType string, log *reqLog) (decodedEvent, bool) {
	var ev decodedEvent
	var err error
	switch eventType {
	case eventAppMention:
		var e slackevents.AppMentionEvent
		if err = json.Unmarshal(event, &e); err == nil {
			ev.fields, ev.isMsg = fieldsOfMention(&e), true
		}
	case eventMessage:
		var e slackevents.MessageEvent
		if err = json.Unmarshal(event, &e); err == nil {
			ev.fields, ev.isMsg = fieldsOfMessage(&e), true
		}
	case eventAssistantThreadStarted:
		var e slackevents.AssistantThreadStartedEvent
		if err = json.Unmarshal(event, &e); err == nil {
			ev.thread = assistantThread(e.AssistantThread)
			ev.thread.EventTS = e.EventTimestamp
		}
	case eventAssistantContext:
		var e slackevents.AssistantThreadContextChangedEvent
		if err = json.Unmarshal(event, &e); err == nil {
			ev.thread = assistantThread(e.AssistantThread)
			ev.thread.EventTS = e.EventTimestamp
		}
	case eventAgentSessionStopped:
		var e slackevents.AgentSessionStoppedEvent
		if err = json.Unmarshal(event, &e); err == nil {
			ev.stop = slackbot.SessionStop{ChannelID: e.Channel, ThreadTS: e.ThreadTimestamp, UserID: e.User,
				StreamingTS: e.StreamingMessageTimestamps, EventTS: e.EventTimestamp}
		}
	}
	if err == nil {
		return ev, true
	}
	log.Warn("slack-go could not decode the event; reading the fields the bot needs itself", slog.Any("err", err))
	if h.metrics != nil {
		h.metrics.EventDecodedByHand(eventType)
	}
	var ok bool
	ev.fields, ev.thread, ev.stop, ev.isMsg, ok = decodeByHand(event, eventType)
	if !ok {
		log.Error("event dropped: not even its basic fields could be read")
		if h.metrics != nil {
			h.metrics.EventDropped(eventType, "undecodable")
		}
	}
	return ev, ok
}

// eventWork returns the dispatcher call an event asks for, or nil when it
// asks for none (the bot's own or another bot's message, an edit, an event
// missing what it needs, …).
func (h *Handler) eventWork(ev decodedEvent, eventType string, env envelope, retryNum int, retryReason string, log *reqLog) func(context.Context) error {
	if ev.isMsg {
		msg, reason := h.userMessage(ev.fields, h.botUserIDs(env))
		if reason != "" {
			log.Debug("ignoring message", slog.String("reason", reason))
			return nil
		}
		msg.EventID, msg.TeamID = env.EventID, env.TeamID
		msg.RetryNum, msg.RetryReason = retryNum, retryReason
		return func(ctx context.Context) error { return h.dispatcher.Message(ctx, msg) }
	}
	if eventType == eventAgentSessionStopped {
		stop := ev.stop
		stop.EventID, stop.TeamID = env.EventID, env.TeamID
		if stop.ChannelID == "" || stop.ThreadTS == "" || stop.UserID == "" {
			log.Warn("agent_session_stopped without channel, thread or user")
			return nil
		}
		return func(ctx context.Context) error { return h.dispatcher.AgentSessionStopped(ctx, stop) }
	}
	thread := ev.thread
	thread.EventID, thread.TeamID = env.EventID, env.TeamID
	switch {
	case thread.ChannelID == "" || thread.ThreadTS == "":
		log.Warn("assistant thread event without channel or thread")
		return nil
	case eventType == eventAssistantThreadStarted:
		return func(ctx context.Context) error { return h.dispatcher.AssistantThreadStarted(ctx, thread) }
	}
	// assistant_thread_context_changed: the user looked at another channel
	// while the AI app pane stayed open. The thread's next runs carry it.
	log.Debug("assistant thread context changed", slog.String("context_channel", thread.ContextChannelID))
	return func(ctx context.Context) error { return h.dispatcher.AssistantThreadContextChanged(ctx, thread) }
}

// dispatchEvent runs work within the ack timeout and acks the event only if
// it recorded the work; otherwise Slack is asked to deliver it again.
func (h *Handler) dispatchEvent(w http.ResponseWriter, r *http.Request, work func(context.Context) error, log *reqLog) {
	err, answered := bounded(h, r, work)
	switch {
	case !answered:
		// The work may not have been recorded. Let Slack redeliver it; the
		// dispatcher deduplicates by event id.
		log.Error("dispatcher did not accept the event in time; asking Slack to retry")
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case err != nil:
		log.Error("dispatcher refused the event; asking Slack to retry", slog.Any("err", err))
		http.Error(w, "try again", http.StatusInternalServerError)
	default:
		ackEmpty(w)
	}
}

// messageFields are the fields of a user's message event (message or
// app_mention) the bot reads. The handler decodes them itself when slack-go
// cannot decode an event.
type messageFields struct {
	Type        string `json:"type"`
	Subtype     string `json:"subtype"`
	User        string `json:"user"`
	UserTeam    string `json:"user_team"`
	BotID       string `json:"bot_id"`
	Text        string `json:"text"`
	TS          string `json:"ts"`
	ThreadTS    string `json:"thread_ts"`
	Channel     string `json:"channel"`
	ChannelType string `json:"channel_type"`
	Hidden      bool   `json:"hidden"`
	Edited      *struct {
		TS string `json:"ts"`
	} `json:"edited"`
	Files []slackbot.File `json:"files"`
}

func fieldsOfMention(e *slackevents.AppMentionEvent) messageFields {
	f := messageFields{Type: eventAppMention, User: e.User, UserTeam: e.UserTeam, BotID: e.BotID, Text: e.Text,
		TS: e.TimeStamp, ThreadTS: e.ThreadTimeStamp, Channel: e.Channel, Files: files(e.Files)}
	if e.Edited != nil {
		f.Edited = &struct {
			TS string `json:"ts"`
		}{e.Edited.TimeStamp}
	}
	return f
}

func fieldsOfMessage(e *slackevents.MessageEvent) messageFields {
	f := messageFields{Type: eventMessage, Subtype: e.SubType, User: e.User, UserTeam: e.UserTeam, BotID: e.BotID,
		Text: e.Text, TS: e.TimeStamp, ThreadTS: e.ThreadTimeStamp, Channel: e.Channel, ChannelType: e.ChannelType}
	if e.Message != nil {
		f.Hidden = e.Message.Hidden
		f.Files = files(e.Message.Files)
	}
	return f
}

func files(in []slack.File) []slackbot.File {
	var out []slackbot.File
	for _, f := range in {
		out = append(out, slackbot.File{
			ID: f.ID, Name: f.Name, Title: f.Title, Mimetype: f.Mimetype, Filetype: f.Filetype, Size: int64(f.Size),
			URLPrivate: f.URLPrivate, URLPrivateDownload: f.URLPrivateDownload,
		})
	}
	return out
}

func assistantThread(at slackevents.AssistantThread) slackbot.AssistantThread {
	return slackbot.AssistantThread{ChannelID: at.ChannelID, ThreadTS: at.ThreadTimeStamp, UserID: at.UserID, ContextChannelID: at.Context.ChannelID}
}

// decodeByHand reads the fields the bot needs from an inner event slack-go
// could not decode. ok is false when even those cannot be read.
func decodeByHand(event []byte, innerType string) (f messageFields, t slackbot.AssistantThread, st slackbot.SessionStop, isMsg, ok bool) {
	switch innerType {
	case eventAppMention, eventMessage:
		if err := json.Unmarshal(event, &f); err != nil {
			return f, t, st, true, false
		}
		return f, t, st, true, true
	case eventAgentSessionStopped:
		var ev struct {
			Channel     string   `json:"channel"`
			ThreadTS    string   `json:"thread_ts"`
			User        string   `json:"user"`
			StreamingTS []string `json:"streaming_message_ts"`
			EventTS     string   `json:"event_ts"`
		}
		if err := json.Unmarshal(event, &ev); err != nil {
			return f, t, st, false, false
		}
		return f, t, slackbot.SessionStop{ChannelID: ev.Channel, ThreadTS: ev.ThreadTS, UserID: ev.User, StreamingTS: ev.StreamingTS, EventTS: ev.EventTS}, false, true
	default:
		var ev struct {
			AssistantThread struct {
				UserID    string `json:"user_id"`
				ChannelID string `json:"channel_id"`
				ThreadTS  string `json:"thread_ts"`
				Context   struct {
					ChannelID string `json:"channel_id"`
				} `json:"context"`
			} `json:"assistant_thread"`
			EventTS string `json:"event_ts"`
		}
		if err := json.Unmarshal(event, &ev); err != nil {
			return f, t, st, false, false
		}
		at := ev.AssistantThread
		return f, slackbot.AssistantThread{ChannelID: at.ChannelID, ThreadTS: at.ThreadTS, UserID: at.UserID,
			ContextChannelID: at.Context.ChannelID, EventTS: ev.EventTS}, st, false, true
	}
}

// userSubtypes are the message subtypes that are still a user speaking to
// the bot (Slack: docs.slack.dev/reference/events/message): a message with
// files, and a thread reply also sent to the channel.
var userSubtypes = map[string]bool{"": true, "file_share": true, "thread_broadcast": true}

// userMessage turns a message or app_mention into a Message, or says why it
// is ignored.
func (h *Handler) userMessage(f messageFields, bots []string) (slackbot.Message, string) {
	mention := f.Type == eventAppMention
	if !userSubtypes[f.Subtype] {
		return slackbot.Message{}, "subtype " + f.Subtype
	}
	if f.Hidden {
		return slackbot.Message{}, "hidden"
	}
	if reason := h.ignoreReason(f.User, f.BotID, bots); reason != "" {
		return slackbot.Message{}, reason
	}
	if mention && f.Edited != nil {
		// Edits never start runs; the original message was handled already.
		return slackbot.Message{}, "edited"
	}
	if f.Channel == "" || f.TS == "" {
		return slackbot.Message{}, "no channel or ts"
	}
	channelType := f.ChannelType
	if channelType == "" {
		channelType = channelTypeFromID(f.Channel)
	}
	return slackbot.Message{
		ChannelID:   f.Channel,
		ChannelType: channelType,
		UserID:      f.User,
		UserTeam:    f.UserTeam,
		Text:        StripMention(f.Text, bots...),
		TS:          f.TS,
		ThreadTS:    f.ThreadTS,
		Mention:     mention || HasMention(f.Text, bots...),
		Files:       f.Files,
	}, ""
}

// ignoreReason says why a message from user/botID must not be dispatched, or "".
func (h *Handler) ignoreReason(user, botID string, bots []string) string {
	switch {
	case botID != "" && h.botID != "" && botID == h.botID:
		return "own bot message"
	case botID != "":
		return "bot message"
	case user == "":
		return "no user"
	}
	for _, id := range bots {
		if user == id {
			return "own message"
		}
	}
	return ""
}

// channelTypeFromID guesses a conversation's type from its id prefix, for
// events (app_mention) that do not carry channel_type. Private channels
// created since 2021 also start with C, so "group" is only a best guess.
func channelTypeFromID(id string) string {
	switch slackutilsx.DetectChannelType(id) {
	case slackutilsx.CTypeDM:
		return slackevents.ChannelTypeIM
	case slackutilsx.CTypeGroup:
		return slackevents.ChannelTypeGroup
	default:
		return slackevents.ChannelTypeChannel
	}
}

// knownRetryReason reports whether reason is one Slack documents. Other
// values are reported as "other": the headers are not signed, so they must
// not be able to grow a metric's label set.
func knownRetryReason(reason string) bool {
	switch reason {
	case "http_timeout", "too_many_redirects", "connection_failed", "ssl_error", "http_error", "unknown_error":
		return true
	}
	return false
}

// maxRetryNum caps a redelivery count; Slack sends 1 to 3.
const maxRetryNum = 10

// retryHeaders reads Slack's redelivery headers. A missing or garbled count
// is treated as a first delivery.
func retryHeaders(h http.Header) (int, string) {
	n, err := strconv.Atoi(h.Get("X-Slack-Retry-Num"))
	if err != nil || n <= 0 {
		return 0, ""
	}
	reason := h.Get("X-Slack-Retry-Reason")
	if !knownRetryReason(reason) {
		reason = "other"
	}
	return min(n, maxRetryNum), reason
}

// badEvent rejects a verified but unusable event. Redelivering the same bytes
// cannot help, so ask Slack not to retry.
func badEvent(w http.ResponseWriter) {
	w.Header().Set("X-Slack-No-Retry", "1")
	http.Error(w, "bad request", http.StatusBadRequest)
}
