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
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

const (
	actionPrefix    = "approval:"
	modalCallbackID = "approval"
	maxCardRequests = 10
	modalArgsRunes  = 2900
	modalTitle      = "Review the request" // Slack: modal title ≤ 24 characters
	// Card previews, in Slack characters after escaping. A card shows up to
	// maxCardRequests requests; together they must stay under Slack's
	// ~13.2k characters of block text per message (msg_blocks_too_long).
	previewMax       = 1200
	cardPreviewsMax  = 10_000
	sectionMax       = 3000 // Slack: section text ≤ 3000
	nameMax          = 200
	decisionBlockFmt = "decision-%d"
	argsBlockFmt     = "args-%d"
	messageBlockFmt  = "message-%d"
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
		return r.finishFailed(ctx, job, p, live, "The agent paused to ask for approval of "+describeActions(ic)+
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
		ts, err := r.cfg.Slack.Post(ctx, job.Key.ChannelID, job.Key.RootTS, cardMessage(card, ic))
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
				return r.cfg.Slack.Update(ctx, card.ChannelID, card.MessageTS, decidedMessage(card, ic, decisions))
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

func describeActions(ic agents.Interrupt) string {
	var names []string
	for _, a := range ic.ActionRequests {
		if path, _, ok := agents.IsMemoryWrite(a); ok {
			names = append(names, "a memory write to `"+path+"`")
			continue
		}
		names = append(names, "`"+a.Name+"`")
	}
	if len(names) == 0 {
		return "an action"
	}
	return strings.Join(names, ", ")
}

// cardMessage renders an undecided approval card.
func cardMessage(card slackbot.Card, ic agents.Interrupt) slackpost.Message {
	blocks := cardHead(card, ic)
	blocks = append(blocks, slack.NewActionBlock("actions-"+card.ID, cardButtons(card, ic)...))
	text := slacktext.Truncate("Approval needed: the agent wants to run "+slacktext.Escape(describeActions(ic)), 3000)
	return slackpost.Message{Text: text, Blocks: blocks}
}

// decidedMessage renders a card after the decision: the buttons are gone.
func decidedMessage(card slackbot.Card, ic agents.Interrupt, decisions []agents.Decision) slackpost.Message {
	blocks := cardHead(card, ic)
	var parts []string
	for i, d := range decisions {
		label := decisionPast(d.Type)
		if len(decisions) > 1 {
			label = fmt.Sprintf("#%d %s", i+1, label)
		}
		if d.Message != "" {
			label += ": “" + slacktext.Truncate(slacktext.Escape(oneLine(d.Message)), 200) + "”"
		}
		parts = append(parts, label)
	}
	text := fmt.Sprintf("%s by <@%s> <!date^%d^{date_short_pretty} at {time}|at %s>",
		strings.Join(parts, ", "), card.DecidedBy, card.DecidedAt.Unix(), card.DecidedAt.UTC().Format(time.RFC1123))
	blocks = append(blocks, slack.NewContextBlock("decided-"+card.ID, slack.NewTextBlockObject(slack.MarkdownType, text, false, false)))
	return slackpost.Message{Text: "Approval decided: " + strings.Join(parts, ", "), Blocks: blocks}
}

func decisionPast(t string) string {
	switch t {
	case agents.DecisionApprove:
		return ":white_check_mark: Approved"
	case agents.DecisionReject:
		return ":no_entry_sign: Rejected"
	case agents.DecisionEdit:
		return ":pencil2: Approved with edits"
	case agents.DecisionRespond:
		return ":speech_balloon: Answered"
	}
	return t
}

func cardHead(card slackbot.Card, ic agents.Interrupt) []slack.Block {
	title := ":raised_hand: Approval needed"
	if len(ic.ActionRequests) > 0 {
		if _, _, ok := agents.IsMemoryWrite(ic.ActionRequests[0]); ok {
			title = ":brain: The agent wants to write to its memory"
		}
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, title, true, false)),
		slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, "Run started by <@"+card.StartedBy+">", false, false)),
	}
	reqs := ic.ActionRequests
	// Each request also shows a name and a description of up to nameMax
	// characters each: the budget leaves room for them.
	preview := min(previewMax, max(200, cardPreviewsMax/max(1, min(len(reqs), maxCardRequests))-2*nameMax-50))
	for i, a := range reqs {
		if i == maxCardRequests {
			blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
				fmt.Sprintf("…and %d more; use *Review each…* to see them all.", len(reqs)-maxCardRequests), false, false)))
			break
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, requestText(i, len(reqs), a, preview), false, false), nil, nil))
	}
	return blocks
}

// requestText shows one action request: a memory write as its path and a
// preview of the content (at most preview characters), any other tool as its
// name and arguments. Everything the agent wrote is escaped, then cut.
func requestText(i, n int, a agents.ActionRequest, preview int) string {
	prefix := ""
	if n > 1 {
		prefix = fmt.Sprintf("*%d.* ", i+1)
	}
	if path, content, ok := agents.IsMemoryWrite(a); ok {
		verb := "Write"
		if a.Name == "edit_file" {
			verb = "Edit"
		}
		return prefix + "*" + verb + "* `" + inlineCode(path) + "`\n" + codeBlock(content, preview)
	}
	args, _ := json.MarshalIndent(a.Args, "", "  ")
	text := prefix + "*Tool* `" + inlineCode(a.Name) + "`"
	if d := firstLine(a.Description); d != "" {
		text += " — " + slacktext.Truncate(slacktext.Escape(d), nameMax)
	}
	return text + "\n" + codeBlock(string(args), preview)
}

// inlineCode is s escaped and cut for a `code span`: one line, no backticks.
func inlineCode(s string) string {
	s = strings.ReplaceAll(oneLine(s), "`", "ˋ")
	return slacktext.Truncate(slacktext.Escape(s), nameMax)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// codeBlock previews text in a code block of at most max characters, cut
// after escaping (never inside an entity or a surrogate pair) and with no
// fence breakouts.
func codeBlock(s string, max int) string {
	if strings.TrimSpace(s) == "" {
		return "_(empty)_"
	}
	s = strings.ReplaceAll(s, "```", "ˋˋˋ")
	return "```\n" + slacktext.Truncate(slacktext.Escape(s), max) + "\n```"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// cardButtons offers one button per decision allowed for every request; for
// several requests, or decisions that need input, a modal decides each one.
func cardButtons(card slackbot.Card, ic agents.Interrupt) []slack.BlockElement {
	allowed := commonDecisions(ic)
	var els []slack.BlockElement
	add := func(kind, label string, style slack.Style) {
		b := slack.NewButtonBlockElement(actionPrefix+kind, card.ID, slack.NewTextBlockObject(slack.PlainTextType, label, true, false))
		b.Style = style
		els = append(els, b)
	}
	multi := len(ic.ActionRequests) > 1
	if allowed[agents.DecisionApprove] {
		add(agents.DecisionApprove, map[bool]string{false: "Approve", true: "Approve all"}[multi], slack.StylePrimary)
	}
	if allowed[agents.DecisionReject] {
		add(agents.DecisionReject, map[bool]string{false: "Reject", true: "Reject all"}[multi], slack.StyleDanger)
	}
	if multi || allowed[agents.DecisionEdit] || allowed[agents.DecisionRespond] {
		label := "Edit or respond…"
		if multi {
			label = "Review each…"
		}
		add("review", label, slack.StyleDefault)
	}
	return els
}

// commonDecisions are the decision types every request allows.
func commonDecisions(ic agents.Interrupt) map[string]bool {
	common := map[string]bool{}
	for i := range ic.ActionRequests {
		allowed := map[string]bool{}
		for _, d := range ic.AllowedFor(i) {
			allowed[d] = true
		}
		if i == 0 {
			common = allowed
			continue
		}
		for d := range common {
			if !allowed[d] {
				delete(common, d)
			}
		}
	}
	return common
}

// Action handles a click on an approval card.
func (r *Relay) Action(ctx context.Context, a slackbot.Action) error {
	switch a.ActionID {
	case feedbackActionID:
		return r.feedback(ctx, a.ChannelID, a.UserID, a.UserName, a.Value)
	case stopActionID:
		text, err := r.stopJob(ctx, a.Value, a.UserID, "button")
		if text != "" {
			r.tell(a.ChannelID, a.UserID, text)
		}
		return err
	}
	kind, ok := strings.CutPrefix(a.ActionID, actionPrefix)
	if !ok {
		return nil
	}
	card, ic, ok := r.cardFor(ctx, a.ChannelID, a.UserID, a.Value)
	if !ok {
		return nil
	}
	if kind == "review" {
		return r.cfg.Slack.OpenModal(ctx, a.TriggerID, reviewModal(card, ic))
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
			return r.cfg.Slack.Update(ctx, stored.ChannelID, ts, decidedMessage(stored, ic, decisions))
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

// reviewModal lets an approver decide each request, edit arguments and
// write a message for reject/respond.
func reviewModal(card slackbot.Card, ic agents.Interrupt) slack.ModalViewRequest {
	var blocks []slack.Block
	for i, a := range ic.ActionRequests {
		text := slacktext.Truncate(requestText(i, len(ic.ActionRequests), a, previewMax*2), sectionMax)
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil))
		var opts []*slack.OptionBlockObject
		allowed := ic.AllowedFor(i)
		for _, d := range allowed {
			opts = append(opts, slack.NewOptionBlockObject(d, slack.NewTextBlockObject(slack.PlainTextType, decisionLabel(d), false, false), nil))
		}
		radio := slack.NewRadioButtonsBlockElement("choice", opts...)
		if len(opts) > 0 {
			radio.InitialOption = opts[0]
		}
		blocks = append(blocks, slack.NewInputBlock(fmt.Sprintf(decisionBlockFmt, i), slack.NewTextBlockObject(slack.PlainTextType, "Decision", false, false), nil, radio))
		if slices.Contains(allowed, agents.DecisionEdit) {
			args, _ := json.MarshalIndent(a.Args, "", "  ")
			in := slack.NewPlainTextInputBlockElement(nil, "value")
			in.Multiline = true
			in.InitialValue = slacktext.Truncate(string(args), modalArgsRunes) // Slack: initial_value ≤ max_length (3000)
			ib := slack.NewInputBlock(fmt.Sprintf(argsBlockFmt, i), slack.NewTextBlockObject(slack.PlainTextType, "Arguments (JSON) if you edit", false, false), nil, in)
			ib.Optional = true
			blocks = append(blocks, ib)
		}
		if slices.Contains(allowed, agents.DecisionReject) || slices.Contains(allowed, agents.DecisionRespond) {
			in := slack.NewPlainTextInputBlockElement(nil, "value")
			ib := slack.NewInputBlock(fmt.Sprintf(messageBlockFmt, i), slack.NewTextBlockObject(slack.PlainTextType, "Message to the agent (reject / respond)", false, false), nil, in)
			ib.Optional = true
			blocks = append(blocks, ib)
		}
		if len(blocks) > 95 {
			break
		}
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      modalCallbackID,
		PrivateMetadata: card.ID,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, modalTitle, false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Decide", false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

func decisionLabel(d string) string {
	switch d {
	case agents.DecisionApprove:
		return "Approve"
	case agents.DecisionReject:
		return "Reject"
	case agents.DecisionEdit:
		return "Approve with my edited arguments"
	case agents.DecisionRespond:
		return "Don't run it; answer with my message"
	}
	return d
}

// ViewSubmission decides a card from the review modal.
func (r *Relay) ViewSubmission(ctx context.Context, v slackbot.ViewSubmission) map[string]string {
	if v.CallbackID != modalCallbackID {
		return nil
	}
	card, ic, ok := r.cardFor(ctx, "", v.UserID, v.PrivateMetadata)
	if !ok {
		return map[string]string{fmt.Sprintf(decisionBlockFmt, 0): "This card can no longer be decided (see the thread)."}
	}
	decisions, errs := decisionsFromModal(ic, v.Values)
	if len(errs) > 0 {
		return errs
	}
	if !r.decide(ctx, card, ic, card.ChannelID, "", v.UserID, decisions) {
		return map[string]string{fmt.Sprintf(decisionBlockFmt, 0): "Someone else decided this card first."}
	}
	return nil
}

func decisionsFromModal(ic agents.Interrupt, values map[string]map[string]string) ([]agents.Decision, map[string]string) {
	errs := map[string]string{}
	decisions := make([]agents.Decision, len(ic.ActionRequests))
	for i, a := range ic.ActionRequests {
		choice := values[fmt.Sprintf(decisionBlockFmt, i)]["choice"]
		msg := strings.TrimSpace(values[fmt.Sprintf(messageBlockFmt, i)]["value"])
		d := agents.Decision{Type: choice}
		if allowed := ic.AllowedFor(i); !slices.Contains(allowed, choice) {
			errs[fmt.Sprintf(decisionBlockFmt, i)] = "Choose one of: " + strings.Join(allowed, ", ") + "."
			continue
		}
		switch choice {
		case agents.DecisionEdit:
			var args map[string]any
			if err := json.Unmarshal([]byte(values[fmt.Sprintf(argsBlockFmt, i)]["value"]), &args); err != nil {
				errs[fmt.Sprintf(argsBlockFmt, i)] = "Enter the arguments as a JSON object."
				continue
			}
			d.EditedAction = &agents.EditedAction{Name: a.Name, Args: args}
		case agents.DecisionRespond:
			if msg == "" {
				errs[fmt.Sprintf(messageBlockFmt, i)] = "Write the answer the agent should get."
				continue
			}
			d.Message = msg
		case agents.DecisionReject:
			d.Message = msg
		}
		decisions[i] = d
	}
	if len(errs) == 0 {
		if err := ic.Validate(decisions); err != nil {
			errs[fmt.Sprintf(decisionBlockFmt, 0)] = err.Error()
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return decisions, nil
}

// quotedLines prefixes every line of s with a quote marker.
func quotedLines(s string) string {
	lines := strings.Split(strings.TrimPrefix(s, "> "), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}
