package agentstest

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/google/uuid"
)

// thread is the server's record of one agent thread. Guarded by Server.mu.
type thread struct {
	id        string
	agentID   string
	options   agents.ThreadOptions
	metadata  map[string]any
	status    string
	messages  []map[string]any
	todos     []Todo // nil until the agent first plans
	memories  map[string]string
	files     map[string]string // written with write_file outside /memories/, by path
	interrupt *pendingInterrupt
	executed  []Action // reviewed tool calls that ran, with the args they ran with
	queue     []*run
	current   *run
	working   bool // a worker goroutine owns this thread's queue
	turns     int
	runs      int
	createdAt time.Time
	updatedAt time.Time
}

// run is the server's record of one run. Guarded by Server.mu.
type run struct {
	id        string
	threadID  string
	agentID   string
	req       *runRequest
	options   agents.ThreadOptions
	def       agentDef
	status    string
	createdAt time.Time
	updatedAt time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	rollback  bool   // cancelled by a rollback: restore the state it started from
	failure   string // the error message of a failed run
	snapshot  []map[string]any
	snapTodos []Todo

	events   []sseEvent
	seq      int
	notify   chan struct{} // closed and replaced on every new event
	done     bool          // the event log is complete
	finished bool          // final status set
}

// handleCreateRun serves POST /threads/runs (Managed Deep Agents): create
// the thread if asked to and start a background run on it.
func (s *Server) handleCreateRun(w http.ResponseWriter, r *http.Request) {
	rn, rec, ok := s.acceptRun(w, r, routeSeed)
	if !ok {
		return
	}
	w.Header().Set("Content-Location", "/threads/"+rn.threadID+"/runs/"+rn.id)
	writeJSON(w, http.StatusOK, rec)
}

// handleThreadRun serves POST /threads/{tid}/runs: a background run on a
// thread that exists (Agent Server: unless if_not_exists is "create").
func (s *Server) handleThreadRun(w http.ResponseWriter, r *http.Request) {
	rn, rec, ok := s.acceptRun(w, r, routeThread)
	if !ok {
		return
	}
	w.Header().Set("Content-Location", "/threads/"+rn.threadID+"/runs/"+rn.id)
	writeJSON(w, http.StatusOK, rec)
}

// acceptRun reads, validates and starts the run of a run-start request and
// returns it with its record as of its start (pending); on failure it has
// answered the error.
func (s *Server) acceptRun(w http.ResponseWriter, r *http.Request, route runRoute) (*run, map[string]any, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.recordLocked(r, body)
	latency := s.latency
	fail := s.failStarts > 0
	failStatus := s.failStatus
	if fail {
		s.failStarts--
	}
	s.mu.Unlock()
	if err != nil {
		s.fail(w, errorf(http.StatusBadRequest, CodeInvalidRequestBody, "Provide a valid JSON request body: reading body: %v", err))
		return nil, nil, false
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, nil, false
		case <-s.ctx.Done():
			t.Stop()
			return nil, nil, false
		}
	}
	if fail {
		s.writeStatusError(w, failStatus)
		return nil, nil, false
	}
	req, apiErr := s.parseRunRequest(body, route)
	if apiErr != nil {
		s.fail(w, apiErr)
		return nil, nil, false
	}
	if route != routeSeed {
		req.threadID = r.PathValue("tid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, apiErr := s.startRunLocked(req)
	if apiErr != nil {
		s.fail(w, apiErr)
		return nil, nil, false
	}
	if s.takeDropStartAnswerLocked() {
		dropConnection(w)
		return nil, nil, false
	}
	return rn, rn.recordLocked(), true
}

// jsThreadBusy is @langchain/langgraph-api 2.0.0's text for a busy (or
// missing) thread.
const jsThreadBusy = "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."

// startRunLocked resolves the thread, applies the multitask strategy and
// queues the run. Nothing changes when it returns an error, so a failed
// start leaves no thread behind.
func (s *Server) startRunLocked(req *runRequest) (*run, *apiError) {
	def, ok := s.agentScript[req.agentID]
	if !ok {
		return nil, errorf(http.StatusNotFound, CodeAgentNotFound,
			"Verify the agent ID and that the calling identity has access: agent not found")
	}
	var th *thread
	if req.threadID != "" {
		th = s.threads[req.threadID]
	}
	if th == nil && req.route != routeSeed && !req.createThread {
		if s.surface == AgentServer {
			// Observed on @langchain/langgraph-api 2.0.0: a run on a thread
			// that does not exist gets this (misleading) 422.
			return nil, errorf(http.StatusUnprocessableEntity, CodeThreadBusy, "%s", jsThreadBusy)
		}
		return nil, errThreadNotFound(req.threadID)
	}
	if th != nil && req.route == routeSeed {
		if req.ifExists == agents.IfExistsRaise {
			return nil, errorf(http.StatusConflict, CodeThreadExists,
				"Use if_exists do_nothing to reuse it: thread %s already exists", th.id)
		}
	}
	if th != nil && s.surface.managed() {
		// Managed Deep Agents threads are bound to the agent they were
		// created for (POST /threads "Create a thread bound to a Managed
		// Deep Agent").
		if th.agentID != req.agentID {
			return nil, errorf(http.StatusConflict, CodeThreadAgentMismatch,
				"Start runs on this thread with the agent it was created for: thread %s belongs to another agent", th.id)
		}
	}
	busy := th != nil && (th.current != nil || len(th.queue) > 0)
	if req.resume != nil {
		if th == nil || th.interrupt == nil || busy {
			return nil, errorf(http.StatusConflict, CodeThreadNotInterrupted,
				"Resume only a thread that is waiting for a decision: thread is not interrupted")
		}
		if err := checkDecisions(req.resume, th.interrupt.actions); err != nil {
			return nil, err
		}
	} else if busy && req.multitask == "reject" {
		if s.surface == AgentServer {
			return nil, errorf(http.StatusUnprocessableEntity, CodeThreadBusy, "%s", jsThreadBusy) // observed: 422
		}
		return nil, errorf(http.StatusConflict, CodeThreadBusy,
			"Wait for the current run to finish or choose a different multitask strategy: thread is already running a task")
	}

	now := time.Now().UTC()
	if th == nil {
		if req.threadID == "" {
			req.threadID = uuid.NewString()
		}
		th = s.newThreadLocked(req)
	}
	if th.agentID == "" {
		th.agentID = req.agentID // Agent Server threads bind to no assistant
	}
	if busy && (req.multitask == "interrupt" || req.multitask == "rollback") {
		s.cancelRunsLocked(th, req.multitask == "rollback")
	}

	ctx, cancel := context.WithCancel(s.ctx)
	rn := &run{
		id: uuid.NewString(), threadID: th.id, agentID: req.agentID, req: req, options: th.options,
		def: def, status: agents.RunPending, createdAt: now, updatedAt: now,
		ctx: ctx, cancel: cancel, notify: make(chan struct{}),
	}
	s.runs[rn.id] = rn
	s.runOrder = append(s.runOrder, rn)
	s.runsStarted++
	th.queue = append(th.queue, rn)
	th.runs++
	th.status = agents.ThreadBusy
	th.updatedAt = now
	if !th.working {
		th.working = true
		s.wg.Add(1)
		go s.work(th)
	}
	s.notifyLocked()
	return rn, nil
}

// cancelRunsLocked stops the running run and drops queued ones, for the
// interrupt and rollback multitask strategies.
func (s *Server) cancelRunsLocked(th *thread, rollback bool) {
	if th.current != nil {
		th.current.rollback = rollback
		th.current.cancel()
	}
	for _, q := range th.queue {
		q.cancel()
		s.finishLocked(th, q, agents.RunInterrupted)
	}
	th.queue = nil
}

// work plays a thread's queued runs one at a time, in order.
func (s *Server) work(th *thread) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(th.queue) == 0 || s.ctx.Err() != nil {
			for _, q := range th.queue {
				s.finishLocked(th, q, agents.RunInterrupted)
			}
			th.queue = nil
			th.working = false
			th.current = nil
			s.notifyLocked()
			s.mu.Unlock()
			return
		}
		rn := th.queue[0]
		th.queue = th.queue[1:]
		th.current = rn
		rn.status = agents.RunRunning
		rn.updatedAt = time.Now().UTC()
		rn.snapshot = append([]map[string]any(nil), th.messages...)
		rn.snapTodos = th.todos
		s.mu.Unlock()

		out := s.play(th, rn)

		s.mu.Lock()
		th.current = nil
		status := map[outcome]string{
			outcomeDone: agents.RunSuccess, outcomeFailed: agents.RunError,
			outcomeInterrupted: agents.RunInterrupted, outcomeCancelled: agents.RunInterrupted,
		}[out]
		if s.surface == AgentServer && out == outcomeInterrupted {
			// Observed on @langchain/langgraph-api 2.0.0: an interrupted run
			// is a "success"; only the thread says interrupted.
			status = agents.RunSuccess
		}
		if out == outcomeCancelled && rn.rollback {
			th.messages, th.todos = rn.snapshot, rn.snapTodos
		}
		switch out {
		case outcomeFailed:
			th.status = agents.ThreadError
		case outcomeInterrupted:
			th.status = agents.ThreadInterrupted
		default:
			th.status = agents.ThreadIdle
		}
		s.finishLocked(th, rn, status)
		s.mu.Unlock()
	}
}

// finishLocked sets a run's final status, closes its event stream and sends
// its webhook.
func (s *Server) finishLocked(th *thread, rn *run, status string) {
	if rn.finished {
		return
	}
	rn.status = status
	rn.updatedAt = time.Now().UTC()
	th.updatedAt = rn.updatedAt
	if len(th.queue) > 0 || th.current != nil {
		th.status = agents.ThreadBusy
	}
	if !rn.def.style.noEnd {
		s.emitLocked(rn, "end", "", nil)
	}
	rn.done = true
	rn.finished = true
	rn.cancel()
	close(rn.notify)
	rn.notify = make(chan struct{})
	if rn.req.webhook != "" && s.webhooks {
		body := rn.recordLocked()
		body["values"] = s.threadValuesLocked(th)
		if s.surface == AgentServer {
			// Observed on @langchain/langgraph-api 2.0.0: messages are
			// LangChain-serialized and an interrupt is not in the values.
			body["values"] = jsWebhookValues(th)
			if status == agents.RunError && rn.failure != "" {
				body["error"] = rn.failure
			}
		}
		s.inFlight++
		s.wg.Add(1)
		go s.deliverWebhook(rn.req.webhook, body)
	}
	s.notifyLocked()
}

// recordLocked is the run as the API returns it.
func (rn *run) recordLocked() map[string]any {
	meta := map[string]any{}
	maps.Copy(meta, rn.req.metadata)
	return map[string]any{
		"run_id":             rn.id,
		"thread_id":          rn.threadID,
		"assistant_id":       rn.agentID,
		"status":             rn.status,
		"metadata":           meta,
		"kwargs":             rn.req.kwargs,
		"multitask_strategy": rn.req.multitask,
		"created_at":         rn.createdAt,
		"updated_at":         rn.updatedAt,
	}
}

func (rn *run) info() RunInfo {
	meta := map[string]any{}
	maps.Copy(meta, rn.req.metadata)
	return RunInfo{
		RunID: rn.id, ThreadID: rn.threadID, AgentID: rn.agentID, Status: rn.status,
		Options: rn.options, Input: append([]agents.Message(nil), rn.req.input...), Resume: rn.req.resume,
		Metadata: meta, MultitaskStrategy: rn.req.multitask, Webhook: rn.req.webhook,
		Context: maps.Clone(rn.req.context), Config: maps.Clone(rn.req.config),
		OnDisconnect: rn.req.onDisconnect, StreamSubgraphs: rn.req.subgraphs,
		Route: map[runRoute]string{routeSeed: "/threads/runs", routeThread: "/threads/" + rn.threadID + "/runs",
			routeStream: "/threads/" + rn.threadID + "/runs/stream"}[rn.req.route],
	}
}

func (th *thread) info() ThreadInfo {
	meta := map[string]any{}
	maps.Copy(meta, th.metadata)
	mem := map[string]string{}
	maps.Copy(mem, th.memories)
	ti := ThreadInfo{
		ThreadID: th.id, AgentID: th.agentID, Status: th.status, Options: th.options, Metadata: meta,
		Messages: chatHistory(th.messages), Todos: append([]Todo(nil), th.todos...), Memories: mem, Runs: th.runs,
		Executed: append([]Action(nil), th.executed...),
	}
	if th.interrupt != nil {
		for _, a := range th.interrupt.actions {
			ti.Interrupted = append(ti.Interrupted, Action{Name: a.name, Args: a.args})
		}
	}
	return ti
}

// chatHistory turns state messages into role/content messages.
func chatHistory(msgs []map[string]any) []agents.Message {
	roles := map[string]string{"human": agents.RoleUser, "ai": agents.RoleAssistant, "system": agents.RoleSystem, "tool": agents.RoleTool}
	out := make([]agents.Message, 0, len(msgs))
	for _, m := range msgs {
		t, _ := m["type"].(string)
		out = append(out, agents.Message{Role: roles[t], Content: contentText(m["content"])})
	}
	return out
}

// contentText joins the text of string or block content.
func contentText(c any) string {
	switch v := c.(type) {
	case string:
		return v
	case []map[string]any:
		var b strings.Builder
		for _, blk := range v {
			if blk["type"] == "text" {
				s, _ := blk["text"].(string)
				b.WriteString(s)
			}
		}
		return b.String()
	}
	return ""
}

// jsWebhookValues is a thread's state as the JS server's webhook carries it.
func jsWebhookValues(th *thread) map[string]any {
	classes := map[string]string{"human": "HumanMessage", "ai": "AIMessage", "tool": "ToolMessage", "system": "SystemMessage"}
	msgs := make([]any, 0, len(th.messages))
	for _, m := range th.messages {
		t, _ := m["type"].(string)
		kwargs := maps.Clone(m)
		delete(kwargs, "type")
		msgs = append(msgs, map[string]any{
			"lc": 1, "type": "constructor", "id": []string{"langchain_core", "messages", classes[t]}, "kwargs": kwargs,
		})
	}
	state := map[string]any{"messages": msgs}
	if th.todos != nil {
		state["todos"] = th.todos
	}
	return state
}
