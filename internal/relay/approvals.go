package relay

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// cardID is derived from the job, its run and the card the run's resume
// answered (p.CardID), so a worker that takes over a paused job finds the
// card its predecessor posted instead of posting another, and each new
// interrupt of the job gets a card of its own even where the runtime does
// not name its runs (every run id "-"): never one already decided, whose
// decisions would be applied to an action nobody saw.
func cardID(job slackbot.Job, p payload) string {
	key := job.ID + "\x00" + job.RunID
	if p.CardID != "" {
		key += "\x00" + p.CardID
	}
	sum := sha256.Sum256([]byte(key))
	return "card-" + hex.EncodeToString(sum[:12])
}

// pause shows an interrupted run's approval card and parks the job until
// someone decides.
func (r *Relay) pause(ctx context.Context, log *slog.Logger, job *slackbot.Job, conv slackbot.Conversation, p payload, live LiveReply, out outcome) error {
	ic := *out.interrupt
	if conv.Options.SkipMemoryWriteProtection && r.cfg.Agents.Dialect() == agents.Managed {
		// Headless channels have no one to ask; say so instead of waiting
		// forever. On an Agent Server the flag is only a hint to the graph,
		// so an interrupt there gets its card as usual: never auto-approve.
		return r.finishFailed(ctx, job, p, live, "The agent paused to ask for approval of "+slackpost.DescribeActions(ic)+
			", but this channel runs headless, so no one can approve it here. Configure the agent without tool approvals for this channel.")
	}
	note := "_:raised_hand: Paused: the agent is waiting for an approval (below)._"
	if strings.TrimSpace(out.shown) != "" {
		note = out.shown + "\n\n" + note
	}
	if err := live.Finish(ctx, note, 0, func(int) error { return nil }); err != nil {
		return fmt.Errorf("show pause: %w", err)
	}

	id := cardID(*job, p)
	card, err := r.cfg.Store.Card(ctx, id)
	if errors.Is(err, slackbot.ErrNotFound) {
		raw, merr := json.Marshal(ic)
		if merr != nil {
			return fmt.Errorf("encode interrupt: %w", merr)
		}
		card = slackbot.Card{
			ID: id, JobID: job.ID, Key: job.Key, ThreadID: job.ThreadID,
			ChannelID: job.Key.ChannelID, StartedBy: p.starter(), Interrupt: raw,
			CreatedAt: r.cfg.Now().UTC(),
		}
		err = r.cfg.Store.SaveCard(ctx, card)
	}
	if err != nil {
		return fmt.Errorf("save card: %w", err)
	}
	if card.MessageTS == "" {
		ts, err := r.cfg.Slack.PostApprovalCard(ctx, job.Key.ChannelID, job.Key.RootTS, card, ic)
		if err != nil {
			return fmt.Errorf("post approval card: %w", err)
		}
		card.MessageTS = ts
		if err := r.cfg.Store.SaveCard(ctx, card); err != nil {
			return fmt.Errorf("save card: %w", err)
		}
	}
	posted := card.MessageTS
	job.State = slackbot.JobPaused
	if err := r.save(ctx, job); err != nil {
		return err
	}
	log.Info("run paused for approval", "card", card.ID, "actions", len(ic.ActionRequests))
	// Someone may have clicked between the card appearing and the job
	// being paused; their decision found no paused job to resume. Apply it.
	if card, err = r.cfg.Store.Card(ctx, card.ID); err == nil && card.Decided() {
		var decisions []agents.Decision
		if err := json.Unmarshal(card.Decision, &decisions); err != nil {
			return fmt.Errorf("decode decision of card %s: %w", card.ID, err)
		}
		if _, err := r.cfg.Store.ResumeJob(ctx, job.ID, resumePayload(card, card.DecidedBy, decisions).encode()); err != nil {
			return fmt.Errorf("resume job: %w", err)
		}
		if card.MessageTS == "" {
			// Decided before its ts was saved (a decided card keeps no
			// later changes), so the decider may not have known which
			// message to update.
			card.MessageTS = posted
			r.background(func(ctx context.Context) error {
				return r.cfg.Slack.ShowDecision(ctx, card.ChannelID, card.MessageTS, card, ic, decisions)
			})
		}
	}
	r.notify()
	return nil
}

// resumePayload is the job payload that resumes a card's run with decisions.
func resumePayload(card slackbot.Card, by string, decisions []agents.Decision) payload {
	return payload{UserID: by, Resume: &agents.Resume{Decisions: decisions}, CardID: card.ID, DecidedBy: by, RunBy: card.StartedBy}
}

// Action handles a click on an approval card.
func (r *Relay) Action(ctx context.Context, a slackbot.Action) error {
	switch a.ActionID {
	case slackpost.FeedbackActionID:
		return r.feedback(ctx, a.ChannelID, a.UserID, a.UserName, a.Value)
	case slackpost.StopActionID:
		text, err := r.stopJob(ctx, a.Value, a.UserID, "button")
		if text != "" {
			r.tell(a.ChannelID, a.UserID, text)
		}
		return err
	}
	kind, ok := strings.CutPrefix(a.ActionID, slackpost.ApprovalActionPrefix)
	if !ok {
		return nil
	}
	card, ic, ok := r.cardFor(ctx, a.ChannelID, a.UserID, a.Value)
	if !ok {
		return nil
	}
	if kind == "review" {
		return r.cfg.Slack.OpenReview(ctx, a.TriggerID, card, ic)
	}
	decisions := make([]agents.Decision, len(ic.ActionRequests))
	for i := range decisions {
		decisions[i] = agents.Decision{Type: kind}
	}
	if err := ic.Validate(decisions); err != nil {
		r.tell(a.ChannelID, a.UserID, "That decision isn't allowed for this request: "+slacktext.Escape(err.Error()))
		return nil
	}
	r.decide(ctx, card, ic, a.ChannelID, a.MessageTS, a.UserID, decisions)
	return nil
}

// cardFor loads a card and checks that user may still decide it, telling
// them why not otherwise.
func (r *Relay) cardFor(ctx context.Context, channel, user, id string) (slackbot.Card, agents.Interrupt, bool) {
	var ic agents.Interrupt
	card, err := r.cfg.Store.Card(ctx, id)
	if err != nil {
		if !errors.Is(err, slackbot.ErrNotFound) {
			r.log.Error("load card", "card", id, "err", err)
		}
		r.tell(channel, user, "This approval card is no longer valid.")
		return card, ic, false
	}
	if channel == "" {
		// A modal submission names no channel; answer in the card's.
		channel = card.ChannelID
	}
	if card.Decided() {
		r.tell(channel, user, alreadyDecided(card))
		return card, ic, false
	}
	if !r.cfg.Policy.MayDecide(user, card.StartedBy) {
		r.log.Info("approval refused", "card", card.ID, "user", user)
		r.tell(channel, user, "Only <@"+card.StartedBy+"> (who started this run), ops users or approvers can decide this.")
		return card, ic, false
	}
	if err := json.Unmarshal(card.Interrupt, &ic); err != nil {
		r.log.Error("decode card interrupt", "card", card.ID, "err", err)
		r.tell(channel, user, "This approval card is damaged; start the request again.")
		return card, ic, false
	}
	return card, ic, true
}

func alreadyDecided(c slackbot.Card) string {
	return fmt.Sprintf("Already decided by <@%s> <!date^%d^{date_short_pretty} at {time}|at %s>.",
		c.DecidedBy, c.DecidedAt.Unix(), c.DecidedAt.UTC().Format(time.RFC1123))
}

// decide records the decision exactly once and lets a worker resume the run.
// clickedTS is the card message the click came from ("" from the modal).
func (r *Relay) decide(ctx context.Context, card slackbot.Card, ic agents.Interrupt, channel, clickedTS, user string, decisions []agents.Decision) bool {
	raw, _ := json.Marshal(decisions)
	stored, won, err := r.cfg.Store.DecideCard(ctx, card.ID, user, raw, resumePayload(card, user, decisions).encode(), r.cfg.Now().UTC())
	if err != nil {
		r.log.Error("decide card", "card", card.ID, "err", err)
		r.tell(channel, user, "Sorry, I couldn't record your decision. Please try again.")
		return false
	}
	if !won {
		r.tell(channel, user, alreadyDecided(stored))
		return false
	}
	for _, d := range decisions {
		r.metrics.Approval(d.Type)
	}
	r.log.Info("approval decided", "card", card.ID, "thread_id", card.ThreadID, "by", user)
	// A click can beat the worker saving the card's ts; the click names it.
	// Without either, the pausing worker updates the card (see pause).
	if ts := cmp.Or(stored.MessageTS, clickedTS); ts != "" {
		r.background(func(ctx context.Context) error {
			return r.cfg.Slack.ShowDecision(ctx, stored.ChannelID, ts, stored, ic, decisions)
		})
	}
	r.notify()
	return true
}

func (r *Relay) tell(channel, user, text string) {
	if channel == "" {
		return // nowhere to say it (a modal for a card that no longer exists)
	}
	r.background(func(ctx context.Context) error { return r.cfg.Slack.Ephemeral(ctx, channel, user, text) })
}

// ViewSubmission decides a card from the review modal.
func (r *Relay) ViewSubmission(ctx context.Context, v slackbot.ViewSubmission) map[string]string {
	if v.CallbackID != slackpost.ReviewCallbackID {
		return nil
	}
	card, ic, ok := r.cardFor(ctx, "", v.UserID, v.PrivateMetadata)
	if !ok {
		return map[string]string{slackpost.ReviewDecisionBlock(0): "This card can no longer be decided (see the thread)."}
	}
	decisions, errs := slackpost.ReviewDecisions(ic, v.Values)
	if len(errs) > 0 {
		return errs
	}
	if !r.decide(ctx, card, ic, card.ChannelID, "", v.UserID, decisions) {
		return map[string]string{slackpost.ReviewDecisionBlock(0): "Someone else decided this card first."}
	}
	return nil
}
