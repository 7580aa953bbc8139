package bottest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// Slack's side of the conversation: what Slack sends the bot, signed as
// Slack signs it (https://api.slack.com/authentication/verifying-requests-from-slack).

// Sign is the X-Slack-Signature Slack sends with body at timestamp ts:
// "v0=" + hex(HMAC-SHA256(signing secret, "v0:" + ts + ":" + body)). It is
// written from Slack's documentation, independently of the bot's verifier,
// so the tests check that verifier against Slack's rule, not against itself.
func Sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", ts)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// SlashCommand is the command the world's Slack app declares.
const SlashCommand = "/agent"

// Post sends a request signed like Slack signs it to the bot's path and
// returns the status and body of the answer.
func (w *World) Post(path, contentType string, body []byte, header http.Header) (int, string, error) {
	return w.PostTo(w.URL, path, contentType, body, header)
}

// PostTo is Post to the bot at base, e.g. one of several replicas.
func (w *World) PostTo(base, path, contentType string, body []byte, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", Sign(Secret, ts, body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// SlashForm is the form Slack posts for "/agent <text>" from user in channel.
func (w *World) SlashForm(user, channel, text string) url.Values {
	id := w.NextID()
	return url.Values{
		"token":        {"unused"},
		"team_id":      {Team},
		"team_domain":  {"sim"},
		"channel_id":   {channel},
		"channel_name": {"channel"},
		"user_id":      {user},
		"user_name":    {user},
		"command":      {SlashCommand},
		"text":         {text},
		"response_url": {w.Slack.ResponseURLFor(fmt.Sprintf("cmd-%d", id), channel, user)},
		"trigger_id":   {fmt.Sprintf("%d.trigger", id)},
		"api_app_id":   {"ASIM"},
	}
}

// Slash sends "/agent <text>" from user in channel and returns the ack.
func (w *World) Slash(user, channel, text string) (int, string, error) {
	form := w.SlashForm(user, channel, text)
	return w.Post("/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
}

// EventEnvelope wraps an event in the Events API envelope Slack delivers.
func (w *World) EventEnvelope(eventID string, event map[string]any) map[string]any {
	return map[string]any{
		"token": "unused", "team_id": Team, "api_app_id": "ASIM", "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(), "event": event,
		"authorizations": []map[string]any{{"team_id": Team, "user_id": w.Slack.BotUserID(), "is_bot": true}},
	}
}

// Event delivers an Events API envelope; retry > 0 adds Slack's retry headers.
func (w *World) Event(eventID string, event map[string]any, retry int) (int, error) {
	return w.EventTo(w.URL, eventID, event, retry)
}

// EventTo is Event to the bot at base. A status of 0 with an error means
// nothing answered (a dead replica).
func (w *World) EventTo(base, eventID string, event map[string]any, retry int) (int, error) {
	body, err := json.Marshal(w.EventEnvelope(eventID, event))
	if err != nil {
		return 0, err
	}
	h := http.Header{}
	if retry > 0 {
		h.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		h.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	code, _, err := w.PostTo(base, "/slack/events", "application/json", body, h)
	return code, err
}

// UserSays puts a user's message into the fake Slack and returns it as the
// "message" event Slack would deliver for it.
func (w *World) UserSays(user, channel, channelType, text, threadTS string) map[string]any {
	ts := w.Slack.UserMessage(channel, user, text, threadTS)
	ev := map[string]any{"type": "message", "channel": channel, "channel_type": channelType,
		"user": user, "text": text, "ts": ts, "event_ts": ts}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	return ev
}

// Mention puts "<@bot> text" from user into the fake Slack and returns the
// message event Slack delivers for it (AsMention gives its app_mention twin).
func (w *World) Mention(user, channel, text, threadTS string) map[string]any {
	return w.UserSays(user, channel, "channel", "<@"+w.Slack.BotUserID()+"> "+text, threadTS)
}

// UserShares puts a user's message with files (from Slack.AddFile) into the
// fake Slack and returns the file_share "message" event Slack delivers for it.
func (w *World) UserShares(user, channel, channelType, text, threadTS string, files ...slackfake.File) map[string]any {
	ts := w.Slack.UserFileShare(channel, user, text, threadTS, files...)
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
func (w *World) Click(user, channel, messageTS, threadTS, actionID, value string) (int, error) {
	return w.ClickElement(user, channel, messageTS, threadTS, "button", actionID, value)
}

// ClickElement is a click on an interactive element of elementType, such as
// one of the two buttons of a feedback_buttons element (its value is the
// clicked button's).
func (w *World) ClickElement(user, channel, messageTS, threadTS, elementType, actionID, value string) (int, error) {
	code, _, err := w.Interact(w.ClickPayload(user, channel, messageTS, threadTS, elementType, actionID, value))
	return code, err
}

// ClickPayload is the block_actions payload of a click on an element of a
// bot message, as Slack sends it over HTTP or Socket Mode.
func (w *World) ClickPayload(user, channel, messageTS, threadTS, elementType, actionID, value string) map[string]any {
	return map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": Team},
		"user":       map[string]any{"id": user, "name": user},
		"channel":    map[string]any{"id": channel},
		"container":  map[string]any{"type": "message", "channel_id": channel, "message_ts": messageTS, "thread_ts": threadTS},
		"trigger_id": fmt.Sprintf("%d.trigger", w.NextID()),
		"actions":    []map[string]any{{"type": elementType, "action_id": actionID, "block_id": "b", "value": value, "action_ts": "1"}},
	}
}

// Interact posts an interactivity payload (block_actions, view_submission)
// as Slack does: form-encoded in a "payload" field.
func (w *World) Interact(payload map[string]any) (int, string, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return 0, "", err
	}
	body := url.Values{"payload": {string(raw)}}.Encode()
	return w.Post("/slack/interactions", "application/x-www-form-urlencoded", []byte(body), nil)
}
