package agentstest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/google/uuid"
)

type outcome int

const (
	outcomeDone outcome = iota
	outcomeInterrupted
	outcomeFailed
	outcomeCancelled
)

// frame is the graph a step runs in: the root agent (its state is the
// thread's) or a subagent (namespace tools:<id>, state of its own).
type frame struct {
	ns       string
	messages *[]map[string]any
	todos    *[]Todo
}

// executor plays one run.
type executor struct {
	s    *Server
	th   *thread
	rn   *run
	root *frame
	step int // langgraph_step of the next model call
}

// play runs rn on th and reports how it ended. Script code runs without the
// server lock; every state change and event happens under it.
func (s *Server) play(th *thread, rn *run) outcome {
	x := &executor{s: s, th: th, rn: rn, step: 1}
	x.root = &frame{messages: &th.messages, todos: &th.todos}

	s.mu.Lock()
	if !s.noRunMetadata {
		s.emitLocked(rn, "metadata", "", map[string]any{"run_id": rn.id, "attempt": 1})
	}
	if s.failSubgraphs && rn.req.subgraphs && slices.Contains(rn.req.streamMode, "values") {
		th.turns++
		s.emitLocked(rn, "error", "", map[string]any{"error": "TypeError", "message": subgraphFailure})
		rn.failure = subgraphFailure
		s.mu.Unlock()
		return outcomeFailed
	}
	turn := Turn{
		AgentID: rn.agentID, ThreadID: th.id, RunID: rn.id, Input: rn.req.input, Resume: rn.req.resume,
		Options: th.options, Index: th.turns, History: chatHistory(th.messages),
	}
	th.turns++
	if rn.req.resume != nil {
		turn.Actions, turn.Remaining = x.resumeLocked(rn.req.resume)
	} else {
		x.cancelInterruptLocked()
		for _, m := range rn.req.input {
			*x.root.messages = append(*x.root.messages, inputMessage(m))
		}
	}
	x.valuesLocked(x.root)
	s.mu.Unlock()

	steps := rn.def.script(turn)
	out, _ := x.steps(x.root, steps)
	return out
}

// steps plays steps in f. On an interrupt at the root, the steps that did not
// run are kept for the resume turn.
func (x *executor) steps(f *frame, steps []Step) (outcome, int) {
	for i, st := range steps {
		if x.rn.ctx.Err() != nil {
			return outcomeCancelled, i
		}
		out := x.stepOne(f, st)
		if out == outcomeInterrupted && f == x.root {
			x.s.mu.Lock()
			if x.th.interrupt != nil {
				x.th.interrupt.remaining = append([]Step(nil), steps[i+1:]...)
			}
			x.s.mu.Unlock()
		}
		if out != outcomeDone {
			return out, i
		}
	}
	return outcomeDone, len(steps)
}

func (x *executor) stepOne(f *frame, st Step) outcome {
	switch {
	case st.Text != nil:
		return x.text(f, st.Text)
	case st.Todos != nil:
		todos := append([]Todo{}, st.Todos.Todos...)
		id := x.callTool(f, "write_todos", map[string]any{"todos": todos})
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		*f.todos = todos
		x.toolResultLocked(f, "write_todos", id, fmt.Sprintf("Updated todo list to %s", todoList(todos)), "success",
			map[string]any{"todos": todos})
		return outcomeDone
	case st.Tool != nil:
		id := x.callTool(f, st.Tool.Name, st.Tool.Args)
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		if st.Tool.Name == writeFileTool {
			path, _ := st.Tool.Args["file_path"].(string)
			content, _ := st.Tool.Args["content"].(string)
			x.th.files[path] = content
		}
		x.toolResultLocked(f, st.Tool.Name, id, st.Tool.Result, "success", nil)
		return outcomeDone
	case st.Subagent != nil:
		return x.subagent(f, st.Subagent)
	case st.MemoryWrite != nil, st.Approval != nil:
		return x.reviewedCalls(f, []Step{st})
	case st.Approvals != nil:
		return x.reviewedCalls(f, st.Approvals.Calls)
	case st.Fail != nil:
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		x.s.emitLocked(x.rn, "error", "", map[string]any{"error": "AgentError", "message": st.Fail.Message})
		x.rn.failure = st.Fail.Message
		return outcomeFailed
	case st.Pause != nil:
		t := time.NewTimer(st.Pause.Duration)
		defer t.Stop()
		select {
		case <-t.C:
			return outcomeDone
		case <-x.rn.ctx.Done():
			return outcomeCancelled
		}
	}
	return outcomeDone
}

// text streams an AI message chunk by chunk, then records it.
func (x *executor) text(f *frame, t *TextStep) outcome {
	id := "lc_run--" + uuid.NewString()
	meta := x.chunkMeta(f)
	send := func(content any) {
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		x.s.emitLocked(x.rn, "messages", f.ns, []any{
			map[string]any{"type": "AIMessageChunk", "id": id, "content": content, "tool_call_chunks": []any{}},
			meta,
		})
	}
	if t.Blocks {
		send([]map[string]any{{"type": "thinking", "thinking": t.Thinking, "index": 0}})
	}
	for i, c := range t.Chunks {
		if i > 0 && t.Pace > 0 {
			select {
			case <-x.rn.ctx.Done():
			case <-time.After(t.Pace):
			}
		}
		if x.rn.ctx.Err() != nil {
			return outcomeCancelled
		}
		if t.Blocks {
			send([]map[string]any{{"type": "text", "text": c, "index": 1}})
		} else {
			send(c)
		}
	}
	joined := strings.Join(t.Chunks, "")
	var content any = joined
	if t.Blocks {
		content = []map[string]any{{"type": "thinking", "thinking": t.Thinking}, {"type": "text", "text": joined}}
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	msg := aiMessage(id, content, nil)
	*f.messages = append(*f.messages, msg)
	x.s.emitLocked(x.rn, "updates", f.ns, map[string]any{"model": map[string]any{"messages": []any{msg}}})
	x.valuesLocked(f)
	return outcomeDone
}

// callTool records an AI message that calls one tool and returns the call id.
func (x *executor) callTool(f *frame, name string, args map[string]any) string {
	return x.callTools(f, []Action{{Name: name, Args: args}})[0]
}

// callTools records one AI message that calls every tool of calls at once
// (parallel tool calls) and returns their call ids, in order.
func (x *executor) callTools(f *frame, calls []Action) []string {
	id := "lc_run--" + uuid.NewString()
	ids := make([]string, len(calls))
	chunks := make([]any, len(calls))
	toolCalls := make([]any, len(calls))
	for i, c := range calls {
		args := c.Args
		if args == nil {
			args = map[string]any{}
		}
		ids[i] = "call_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:24]
		argsJSON, _ := json.Marshal(args)
		chunks[i] = map[string]any{"name": c.Name, "args": string(argsJSON), "id": ids[i], "index": i, "type": "tool_call_chunk"}
		toolCalls[i] = map[string]any{"name": c.Name, "args": args, "id": ids[i], "type": "tool_call"}
	}
	meta := x.chunkMeta(f)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.emitLocked(x.rn, "messages", f.ns, []any{
		map[string]any{"type": "AIMessageChunk", "id": id, "content": "", "tool_call_chunks": chunks},
		meta,
	})
	msg := aiMessage(id, "", toolCalls)
	*f.messages = append(*f.messages, msg)
	x.s.emitLocked(x.rn, "updates", f.ns, map[string]any{"model": map[string]any{"messages": []any{msg}}})
	x.valuesLocked(f)
	return ids
}

// reviewedCalls plays one model turn that calls the tools of steps (each a
// MemoryWrite or an Approval) at once. Like HumanInTheLoopMiddleware, it
// raises every call that needs a human in ONE interrupt, one action request
// and review config per call, in order. Memory writes on a thread that skips
// memory-write protection need nobody and go through at once.
func (x *executor) reviewedCalls(f *frame, steps []Step) outcome {
	calls := make([]pendingAction, len(steps))
	for i, st := range steps {
		calls[i] = reviewedCall(st)
		if calls[i].memory && x.s.surface == AgentServer {
			// deepagents JS's write_file result (observed on
			// @langchain/langgraph-api 2.0.0).
			calls[i].result = "Successfully wrote to '" + st.MemoryWrite.Path + "'"
		}
	}
	actions := make([]Action, len(calls))
	for i, c := range calls {
		actions[i] = Action{Name: c.name, Args: c.args}
	}
	ids := x.callTools(f, actions)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	var pending []pendingAction
	for i, c := range calls {
		c.callID = ids[i]
		if c.memory && x.th.options.SkipMemoryWriteProtection || x.rn.def.style.noHITL {
			x.applyLocked(c, c.args)
			x.toolResultLocked(f, c.name, c.callID, c.result, "success", nil)
			continue
		}
		pending = append(pending, c)
	}
	if len(pending) == 0 {
		return outcomeDone
	}
	x.interruptLocked(f, pending)
	return outcomeInterrupted
}

// reviewedCall is the tool call a MemoryWrite or Approval step makes.
func reviewedCall(st Step) pendingAction {
	switch {
	case st.MemoryWrite != nil:
		return pendingAction{
			name: "write_file", args: map[string]any{"file_path": st.MemoryWrite.Path, "content": st.MemoryWrite.Content},
			memory: true, allowed: []string{agents.DecisionApprove, agents.DecisionReject},
			result: "Updated file " + st.MemoryWrite.Path,
		}
	case st.Approval != nil:
		return pendingAction{
			name: st.Approval.Name, args: st.Approval.Args,
			allowed: append([]string(nil), st.Approval.Allowed...), result: st.Approval.Name + " completed",
		}
	}
	panic("agentstest: Approvals takes only MemoryWrite and Approval steps")
}

// toolResultLocked records a tool's result; extra holds other state the tools
// node updates (todos).
func (x *executor) toolResultLocked(f *frame, name, callID, content, status string, extra map[string]any) {
	msg := toolMessage(name, callID, content, status)
	*f.messages = append(*f.messages, msg)
	upd := map[string]any{"messages": []any{msg}}
	maps.Copy(upd, extra)
	x.s.emitLocked(x.rn, "updates", f.ns, map[string]any{"tools": upd})
	x.valuesLocked(f)
}

// subagent delegates steps to a subgraph through the task tool.
func (x *executor) subagent(f *frame, sa *SubagentStep) outcome {
	callID := x.callTool(f, "task", map[string]any{"description": sa.Description, "subagent_type": sa.Name})
	ns := "tools:" + uuid.NewString()
	if f.ns != "" {
		ns = f.ns + "|" + ns
	}
	msgs := []map[string]any{humanMessage(sa.Description)}
	child := &frame{ns: ns, messages: &msgs, todos: new([]Todo)}
	x.s.mu.Lock()
	x.valuesLocked(child)
	x.s.mu.Unlock()
	out, _ := x.steps(child, sa.Steps)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	switch out {
	case outcomeDone:
		x.toolResultLocked(f, "task", callID, lastAIText(msgs), "success", nil)
	case outcomeInterrupted:
		if x.th.interrupt != nil && x.th.interrupt.taskCallID == "" {
			x.th.interrupt.taskCallID, x.th.interrupt.taskNS = callID, f.ns
		}
	}
	return out
}

// chunkMeta is the metadata half of a messages-tuple event.
func (x *executor) chunkMeta(f *frame) map[string]any {
	x.step++
	ns := "model:" + uuid.NewString()
	if f.ns != "" {
		ns = f.ns + "|" + ns
	}
	return map[string]any{
		"langgraph_node":          "model",
		"langgraph_step":          x.step,
		"langgraph_triggers":      []string{"branch:to:model"},
		"langgraph_path":          []string{"__pregel_pull", "model"},
		"langgraph_checkpoint_ns": ns,
		"run_id":                  x.rn.id,
		"thread_id":               x.th.id,
		"assistant_id":            x.rn.agentID,
		"ls_provider":             "anthropic",
		"ls_model_type":           "chat",
	}
}

// valuesLocked emits f's full state.
func (x *executor) valuesLocked(f *frame) {
	if f == x.root {
		x.s.emitLocked(x.rn, "values", "", x.s.threadValuesLocked(x.th))
		return
	}
	state := map[string]any{"messages": append([]map[string]any(nil), *f.messages...)}
	if *f.todos != nil {
		state["todos"] = *f.todos
	}
	x.s.emitLocked(x.rn, "values", f.ns, state)
}

// threadValuesLocked is a thread's state, with __interrupt__ while it waits
// for a decision.
func (s *Server) threadValuesLocked(th *thread) map[string]any {
	state := map[string]any{"messages": append([]map[string]any{}, th.messages...)}
	if th.todos != nil {
		state["todos"] = append([]Todo{}, th.todos...)
	}
	if th.interrupt != nil {
		state["__interrupt__"] = []any{th.interrupt.item()}
	}
	if len(th.files) > 0 {
		state["files"] = stateFiles(th.files, th.updatedAt)
	}
	return state
}

func inputMessage(m agents.Message) map[string]any {
	typ := map[string]string{
		agents.RoleUser: "human", agents.RoleAssistant: "ai", agents.RoleSystem: "system", agents.RoleTool: "tool",
	}[m.Role]
	msg := humanMessage(m.Content)
	if len(m.Blocks) > 0 {
		// The runtime keeps a multimodal message's blocks in its state.
		msg["content"] = m.Blocks
	}
	msg["type"] = typ
	if typ == "ai" {
		msg["tool_calls"] = []any{}
	}
	return msg
}

func humanMessage(content string) map[string]any {
	return map[string]any{"type": "human", "id": uuid.NewString(), "content": content}
}

func aiMessage(id string, content any, toolCalls []any) map[string]any {
	if toolCalls == nil {
		toolCalls = []any{}
	}
	return map[string]any{"type": "ai", "id": id, "content": content, "tool_calls": toolCalls}
}

func toolMessage(name, callID, content, status string) map[string]any {
	return map[string]any{
		"type": "tool", "id": uuid.NewString(), "name": name, "tool_call_id": callID,
		"content": content, "status": status,
	}
}

func lastAIText(msgs []map[string]any) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i]["type"] == "ai" {
			if t := contentText(msgs[i]["content"]); t != "" {
				return t
			}
		}
	}
	return ""
}

// todoList renders todos the way deepagents' write_todos result does.
func todoList(todos []Todo) string {
	parts := make([]string, 0, len(todos))
	for _, t := range todos {
		parts = append(parts, fmt.Sprintf("{'content': '%s', 'status': '%s'}", t.Content, t.Status))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
