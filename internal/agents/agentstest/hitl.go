package agentstest

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/google/uuid"
)

// pendingInterrupt is a human-in-the-loop pause waiting for decisions.
type pendingInterrupt struct {
	id        string
	value     map[string]any // the HITL request, in the agent's casing
	actions   []pendingAction
	remaining []Step // root steps that did not run
	// taskCallID is the root `task` call when the pause happened inside a
	// subagent; taskNS is the namespace that call was made in.
	taskCallID string
	taskNS     string
}

// pendingAction is one tool call waiting for a decision.
type pendingAction struct {
	name    string
	args    map[string]any
	callID  string
	ns      string
	allowed []string
	memory  bool   // a write to the memory directory
	result  string // tool result when approved
}

func (p *pendingInterrupt) item() map[string]any {
	return map[string]any{"value": p.value, "id": p.id}
}

// interruptLocked pauses the run on actions (one action request each, in
// order), like HumanInTheLoopMiddleware: an __interrupt__ update where it
// happened (and at the root), then the root state with __interrupt__.
func (x *executor) interruptLocked(f *frame, actions []pendingAction) {
	actions = append([]pendingAction(nil), actions...)
	for i := range actions {
		actions[i].ns = f.ns
	}
	style := x.rn.def.style
	p := &pendingInterrupt{
		id:      strings.ReplaceAll(uuid.NewString(), "-", ""),
		value:   hitlRequest(actions, style),
		actions: actions,
	}
	x.th.interrupt = p
	upd := map[string]any{"__interrupt__": []any{p.item()}}
	x.s.emitLocked(x.rn, "updates", f.ns, upd)
	if f.ns != "" {
		x.s.emitLocked(x.rn, "updates", "", upd)
	}
	x.valuesLocked(x.root)
}

// hitlRequest builds the interrupt value in snake_case (Python runtimes) or
// camelCase (TypeScript runtimes).
func hitlRequest(actions []pendingAction, st agentStyle) map[string]any {
	key := func(snake, camel string) string {
		if st.camel {
			return camel
		}
		return snake
	}
	argsKey := "args"
	if st.legacyArgs {
		argsKey = "arguments"
	}
	var reqs, configs []any
	for _, a := range actions {
		argsJSON, _ := json.MarshalIndent(a.args, "", "  ")
		reqs = append(reqs, map[string]any{
			"name":  a.name,
			argsKey: a.args,
			"description": fmt.Sprintf("Tool execution requires approval\n\nTool: %s\nArgs: %s",
				a.name, argsJSON),
		})
		configs = append(configs, map[string]any{
			key("action_name", "actionName"):             a.name,
			key("allowed_decisions", "allowedDecisions"): a.allowed,
		})
	}
	return map[string]any{
		key("action_requests", "actionRequests"): reqs,
		key("review_configs", "reviewConfigs"):   configs,
	}
}

// resumeLocked applies validated decisions to the pending interrupt, the way
// the middleware does: approved and edited calls run, rejected ones answer
// with an error tool message, respond answers with the human's message.
func (x *executor) resumeLocked(res *agents.Resume) ([]Action, []Step) {
	p := x.th.interrupt
	x.th.interrupt = nil
	if p == nil {
		return nil, nil
	}
	var actions []Action
	var results []string
	for i, a := range p.actions {
		actions = append(actions, Action{Name: a.name, Args: a.args})
		d := res.Decisions[i]
		content, status := a.result, "success"
		switch d.Type {
		case agents.DecisionApprove:
			x.applyLocked(a, a.args)
		case agents.DecisionEdit:
			args := map[string]any{}
			maps.Copy(args, d.EditedAction.Args)
			a.name = d.EditedAction.Name
			x.applyLocked(a, args)
		case agents.DecisionReject:
			content, status = d.Message, "error"
			if content == "" {
				content = fmt.Sprintf("User rejected the tool call for `%s` with id %s", a.name, a.callID)
			}
		case agents.DecisionRespond:
			content = d.Message
		}
		results = append(results, d.Type)
		msg := toolMessage(a.name, a.callID, content, status)
		if a.ns == "" {
			*x.root.messages = append(*x.root.messages, msg)
		}
		x.s.emitLocked(x.rn, "updates", a.ns, map[string]any{"tools": map[string]any{"messages": []any{msg}}})
	}
	if p.taskCallID != "" {
		msg := toolMessage("task", p.taskCallID, "Subagent stopped after review: "+strings.Join(results, ", "), "success")
		*x.root.messages = append(*x.root.messages, msg)
		x.s.emitLocked(x.rn, "updates", "", map[string]any{"tools": map[string]any{"messages": []any{msg}}})
	}
	return actions, p.remaining
}

// applyLocked performs an approved action with args, recording the call
// as reviewed and run.
func (x *executor) applyLocked(a pendingAction, args map[string]any) {
	x.th.executed = append(x.th.executed, Action{Name: a.name, Args: maps.Clone(args)})
	if !a.memory {
		return
	}
	path, _ := args["file_path"].(string)
	content, _ := args["content"].(string)
	if path != "" {
		x.th.memories[path] = content
	}
}

// cancelInterruptLocked drops a pending interrupt when new input arrives
// instead of a resume, answering the dangling tool calls the way deepagents'
// PatchToolCallsMiddleware does.
func (x *executor) cancelInterruptLocked() {
	p := x.th.interrupt
	if p == nil {
		return
	}
	x.th.interrupt = nil
	cancelled := func(name, id string) {
		*x.root.messages = append(*x.root.messages, toolMessage(name, id, fmt.Sprintf(
			"Tool call %s with id %s was cancelled - another message came in before it could be completed.", name, id), "error"))
	}
	if p.taskCallID != "" {
		cancelled("task", p.taskCallID)
		return
	}
	for _, a := range p.actions {
		cancelled(a.name, a.callID)
	}
}
