package slackhandler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
)

// serveInteraction handles POST /slack/interactions (already verified).
func (h *Handler) serveInteraction(w http.ResponseWriter, r *http.Request) {
	log := h.reqLogger(slog.String("route", RouteInteractions))
	// The payload is read from the signed body only, never from the URL
	// query (the flaw slack-go fixed in v0.35.0).
	form, ok := readForm(w, r, log)
	if !ok {
		return
	}
	payload := form.Get("payload")
	if payload == "" {
		log.Warn("interaction without payload")
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &ic); err != nil {
		log.Warn("malformed interaction payload", slog.Any("err", err))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	log.with(slog.String("type", string(ic.Type)), slog.String("team", ic.Team.ID), slog.String("user", ic.User.ID))

	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		h.serveBlockActions(w, r, &ic, log)
	case slack.InteractionTypeViewSubmission:
		h.serveViewSubmission(w, r, &ic, log)
	default:
		log.Debug("ignoring interaction type")
		ackEmpty(w)
	}
}

func (h *Handler) serveBlockActions(w http.ResponseWriter, r *http.Request, ic *slack.InteractionCallback, log *reqLog) {
	actions := blockActions(ic)
	if len(actions) == 0 {
		ackEmpty(w)
		return
	}
	err, answered := bounded(h, r, func(ctx context.Context) error {
		var errs []error
		for _, a := range actions {
			if err := h.dispatcher.Action(ctx, a); err != nil {
				errs = append(errs, fmt.Errorf("action %s: %w", a.ActionID, err))
			}
		}
		return errors.Join(errs...)
	})
	switch {
	case !answered:
		// Slack does not redeliver clicks. Ack so the user is not shown an
		// error for a click that may well have been recorded.
		log.Warn("dispatcher did not answer the click in time; acked")
		ackEmpty(w)
	case err != nil:
		// A non-200 makes Slack show the user that the click failed, so
		// they can try again.
		log.Error("dispatcher refused a click", slog.Any("err", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		ackEmpty(w)
	}
}

// blockActions flattens a block_actions payload into one Action per clicked
// element. The container names the message for both channel and ephemeral
// messages; the top-level channel and message are fallbacks.
func blockActions(ic *slack.InteractionCallback) []slackbot.Action {
	base := slackbot.Action{
		TeamID:      ic.Team.ID,
		UserID:      ic.User.ID,
		UserName:    cmp.Or(ic.User.Name, ic.User.Username),
		ChannelID:   cmp.Or(ic.Container.ChannelID, ic.Channel.ID),
		MessageTS:   cmp.Or(ic.Container.MessageTs, ic.Message.Timestamp),
		ThreadTS:    cmp.Or(ic.Container.ThreadTs, ic.Message.ThreadTimestamp),
		ResponseURL: ic.ResponseURL,
		TriggerID:   ic.TriggerID,
	}
	out := make([]slackbot.Action, 0, len(ic.ActionCallback.BlockActions))
	for _, ba := range ic.ActionCallback.BlockActions {
		if ba == nil {
			continue
		}
		a := base
		a.ActionID, a.BlockID, a.Value = ba.ActionID, ba.BlockID, submittedValue(ba)
		out = append(out, a)
	}
	return out
}

func (h *Handler) serveViewSubmission(w http.ResponseWriter, r *http.Request, ic *slack.InteractionCallback, log *reqLog) {
	v := slackbot.ViewSubmission{
		TeamID:          cmp.Or(ic.Team.ID, ic.View.TeamID),
		UserID:          ic.User.ID,
		CallbackID:      ic.View.CallbackID,
		PrivateMetadata: ic.View.PrivateMetadata,
		Values:          viewValues(ic.View.State),
	}
	log.with(slog.String("callback_id", v.CallbackID))
	errs, answered := bounded(h, r, func(ctx context.Context) map[string]string {
		return h.dispatcher.ViewSubmission(ctx, v)
	})
	if !answered {
		log.Warn("dispatcher did not answer the view submission in time; closing the modal")
		ackEmpty(w)
		return
	}
	if len(errs) > 0 {
		// Keeps the modal open with the errors under their blocks.
		writeJSON(w, http.StatusOK, slack.NewErrorsViewSubmissionResponse(errs))
		return
	}
	ackEmpty(w)
}

// viewValues maps block_id -> action_id -> submitted value.
func viewValues(state *slack.ViewState) map[string]map[string]string {
	out := map[string]map[string]string{}
	if state == nil {
		return out
	}
	for blockID, actions := range state.Values {
		inner := make(map[string]string, len(actions))
		for actionID, a := range actions {
			inner[actionID] = submittedValue(&a)
		}
		out[blockID] = inner
	}
	return out
}

// submittedValue is the value an input element holds, whatever its kind.
// Multi-selects are joined with commas (Slack ids never contain one).
func submittedValue(a *slack.BlockAction) string {
	switch {
	case a.Value != "":
		return a.Value
	case a.SelectedOption.Value != "":
		return a.SelectedOption.Value
	case a.SelectedUser != "":
		return a.SelectedUser
	case a.SelectedChannel != "":
		return a.SelectedChannel
	case a.SelectedConversation != "":
		return a.SelectedConversation
	case a.SelectedDate != "":
		return a.SelectedDate
	case a.SelectedTime != "":
		return a.SelectedTime
	case len(a.SelectedOptions) > 0:
		vals := make([]string, len(a.SelectedOptions))
		for i, o := range a.SelectedOptions {
			vals[i] = o.Value
		}
		return strings.Join(vals, ",")
	case len(a.SelectedUsers) > 0:
		return strings.Join(a.SelectedUsers, ",")
	case len(a.SelectedChannels) > 0:
		return strings.Join(a.SelectedChannels, ",")
	case len(a.SelectedConversations) > 0:
		return strings.Join(a.SelectedConversations, ",")
	}
	return ""
}
