package slackhandler

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/deepagents-slack/slackbot"
)

// commandReply is the JSON body of a slash command ack.
type commandReply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// serveCommand handles POST /slack/commands (already verified).
func (h *Handler) serveCommand(w http.ResponseWriter, r *http.Request) {
	log := h.reqLogger(slog.String("route", RouteCommands))
	form, ok := readForm(w, r, log)
	if !ok {
		return
	}
	if form.Get("ssl_check") == "1" {
		ackEmpty(w)
		return
	}
	cmd := commandFromForm(form)
	if cmd.Command == "" || cmd.UserID == "" || cmd.ChannelID == "" {
		log.Warn("slash command without command, user or channel")
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	log.with(slog.String("command", cmd.Command), slog.String("team", cmd.TeamID),
		slog.String("channel", cmd.ChannelID), slog.String("user", cmd.UserID))
	if h.slashCommand != "" && cmd.Command != h.slashCommand {
		log.Warn("slash command not handled by this app")
		writeJSON(w, http.StatusOK, commandReply{ResponseType: "ephemeral",
			Text: "Sorry, this app does not handle " + cmd.Command + "."})
		return
	}

	reply, answered := bounded(h, r, func(ctx context.Context) slackbot.Reply {
		return h.dispatcher.Command(ctx, cmd)
	})
	if !answered {
		// Slack shows an error after 3 s; an empty ack is better, and the
		// dispatcher can still answer through the response_url.
		log.Warn("dispatcher did not answer the slash command in time; acked empty")
		ackEmpty(w)
		return
	}
	if reply.Text == "" {
		ackEmpty(w)
		return
	}
	responseType := "ephemeral"
	if reply.InChannel {
		responseType = "in_channel"
	}
	writeJSON(w, http.StatusOK, commandReply{ResponseType: responseType, Text: reply.Text})
}

func commandFromForm(f url.Values) slackbot.Command {
	return slackbot.Command{
		TeamID:       f.Get("team_id"),
		EnterpriseID: f.Get("enterprise_id"),
		ChannelID:    f.Get("channel_id"),
		ChannelName:  f.Get("channel_name"),
		UserID:       f.Get("user_id"),
		UserName:     f.Get("user_name"),
		Command:      f.Get("command"),
		Text:         strings.TrimSpace(f.Get("text")),
		ResponseURL:  f.Get("response_url"),
		TriggerID:    f.Get("trigger_id"),
	}
}

// readForm parses a form-encoded body. Only the body counts: the signature
// does not cover the URL query, so its values are never merged in. On failure
// it has already answered 400.
func readForm(w http.ResponseWriter, r *http.Request, log *reqLog) (url.Values, bool) {
	if !hasMediaType(r, "application/x-www-form-urlencoded") {
		log.Warn("unexpected content type", slog.String("content_type", r.Header.Get("Content-Type")))
		http.Error(w, "bad request", http.StatusBadRequest)
		return nil, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		log.Warn("reading body", slog.Any("err", err))
		http.Error(w, "bad request", http.StatusBadRequest)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		log.Warn("malformed form body", slog.Any("err", err))
		http.Error(w, "bad request", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}
