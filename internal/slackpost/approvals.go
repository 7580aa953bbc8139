package slackpost

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// Approval cards and the review modal: the Block Kit of a run's request
// for approval, rendered from the card (slackbot.Card) and the interrupt
// the runtime sent (agents.Interrupt); ReviewDecisions reads the modal back.

// Identifiers the edge and the core see in clicks and submissions.
const (
	// ApprovalActionPrefix starts the action_id of every card button; the
	// rest is the decision ("approve", "reject") or "review".
	ApprovalActionPrefix = "approval:"
	// ReviewCallbackID is the review modal's callback_id.
	ReviewCallbackID = "approval"
)

const (
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

// ReviewDecisionBlock is the block id of the i-th request's decision in the
// review modal, where errors about that request are shown.
func ReviewDecisionBlock(i int) string { return fmt.Sprintf(decisionBlockFmt, i) }

// PostApprovalCard posts the approval card of an interrupted run in its
// thread and returns the card message's ts.
func (p *Poster) PostApprovalCard(ctx context.Context, channel, threadTS string, card slackbot.Card, ic agents.Interrupt) (string, error) {
	return p.Post(ctx, channel, threadTS, approvalCard(card, ic))
}

// ShowDecision updates the approval card at ts to show who decided what
// (card.DecidedBy, card.DecidedAt); its buttons go.
func (p *Poster) ShowDecision(ctx context.Context, channel, ts string, card slackbot.Card, ic agents.Interrupt, decisions []agents.Decision) error {
	return p.Update(ctx, channel, ts, decidedCard(card, ic, decisions))
}

// OpenReview opens the review modal of a card, where each request is
// decided on its own, arguments edited and messages written.
func (p *Poster) OpenReview(ctx context.Context, triggerID string, card slackbot.Card, ic agents.Interrupt) error {
	return p.OpenModal(ctx, triggerID, reviewModal(card, ic))
}

func DescribeActions(ic agents.Interrupt) string {
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

// approvalCard renders an undecided approval card.
func approvalCard(card slackbot.Card, ic agents.Interrupt) Message {
	blocks := cardHead(card, ic)
	blocks = append(blocks, slack.NewActionBlock("actions-"+card.ID, cardButtons(card, ic)...))
	text := slacktext.Truncate("Approval needed: the agent wants to run "+slacktext.Escape(DescribeActions(ic)), 3000)
	return Message{Text: text, Blocks: blocks}
}

// decidedCard renders a card after the decision: the buttons are gone.
func decidedCard(card slackbot.Card, ic agents.Interrupt, decisions []agents.Decision) Message {
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
	return Message{Text: "Approval decided: " + strings.Join(parts, ", "), Blocks: blocks}
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
		b := slack.NewButtonBlockElement(ApprovalActionPrefix+kind, card.ID, slack.NewTextBlockObject(slack.PlainTextType, label, true, false))
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
		CallbackID:      ReviewCallbackID,
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

// ReviewDecisions reads the review modal's submitted values (block_id ->
// action_id -> value) as one decision per request of ic, or returns the
// errors to show in the modal, by block id.
func ReviewDecisions(ic agents.Interrupt, values map[string]map[string]string) ([]agents.Decision, map[string]string) {
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
