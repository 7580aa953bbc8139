package agentstest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/google/uuid"
)

// handleCreateThread serves POST /threads.
//
// Managed: {agent_id (required), options, thread_id, if_exists, metadata}
// answered 201 with the documented Thread (create-thread.md; the last three
// fields are newer-spec only, see WithoutThreadIDOnCreate). Agent Server:
// {thread_id, if_exists (default raise), metadata} answered 200, and 409
// "Thread already exists" for a duplicate under raise (observed on
// @langchain/langgraph-api 2.0.0; do_nothing returns the thread unchanged).
func (s *Server) handleCreateThread(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.recordLocked(r, body)
	hold := s.holdThreadCreates
	s.mu.Unlock()
	if hold != nil && !s.heldUntil(r, hold) {
		return // the client left: nothing created
	}
	var f map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err != nil || dec.Decode(&f) != nil || f == nil || dec.More() {
		s.fail(w, errorf(http.StatusBadRequest, CodeInvalidRequestBody,
			"Provide a valid JSON request body matching the documented schema: body is not a JSON object"))
		return
	}
	var req runRequest
	if s.surface.managed() {
		raw, ok := f["agent_id"]
		if !ok || isNull(raw) || json.Unmarshal(raw, &req.agentID) != nil || req.agentID == "" {
			s.fail(w, missing("agent_id"))
			return
		}
		if raw, ok := f["options"]; ok && !isNull(raw) {
			env, _ := json.Marshal(map[string]json.RawMessage{"options": raw})
			if e := req.parseThread(env); e != nil {
				s.fail(w, e)
				return
			}
		}
		if s.ignoreThreadID {
			// The earlier revision knows only agent_id and options.
			delete(f, "thread_id")
			delete(f, "if_exists")
			delete(f, "metadata")
		}
	} else if _, ok := f["agent_id"]; ok {
		s.fail(w, invalidField("agent_id", "is not a field of an Agent Server thread"))
		return
	}
	env := map[string]json.RawMessage{}
	for _, k := range []string{"thread_id", "if_exists", "metadata"} {
		if v, ok := f[k]; ok {
			env[k] = v
		}
	}
	envJSON, _ := json.Marshal(env)
	if e := req.parseThread(envJSON); e != nil {
		s.fail(w, e)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.surface.managed() {
		if _, ok := s.agentScript[req.agentID]; !ok {
			s.fail(w, errorf(http.StatusNotFound, CodeAgentNotFound,
				"Verify the agent ID and that the calling identity has access: agent not found"))
			return
		}
	}
	if req.threadID == "" {
		req.threadID = uuid.NewString()
	}
	th, exists := s.threads[req.threadID]
	switch {
	case exists && req.ifExists != agents.IfExistsDoNothing:
		s.fail(w, errorf(http.StatusConflict, CodeThreadExists, "Thread already exists"))
		return
	case exists && s.surface.managed() && th.agentID != req.agentID:
		s.fail(w, errorf(http.StatusConflict, CodeThreadAgentMismatch,
			"Use the agent the thread was created for: thread %s belongs to another agent", th.id))
		return
	case !exists:
		th = s.newThreadLocked(&req)
	}
	status := http.StatusOK
	if s.surface.managed() {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.threadJSONLocked(th))
}

// newThreadLocked records a thread for req (thread id, agent, options,
// metadata). On Managed surfaces the options are echoed in the metadata as
// is_test_run / skip_memory_write_protection (create-thread.md example).
func (s *Server) newThreadLocked(req *runRequest) *thread {
	now := time.Now().UTC()
	meta := map[string]any{}
	maps.Copy(meta, req.threadMeta)
	if s.surface.managed() {
		meta["is_test_run"] = req.options.TestRun
		meta["skip_memory_write_protection"] = req.options.SkipMemoryWriteProtection
	}
	th := &thread{
		id: req.threadID, agentID: req.agentID, options: req.options, metadata: meta,
		status: agents.ThreadIdle, memories: map[string]string{}, files: map[string]string{}, createdAt: now, updatedAt: now,
	}
	s.threads[th.id] = th
	return th
}

// threadJSONLocked is a thread as the surface's GET /threads/{id} returns it.
// Managed: the documented Thread {id, agent_id, status, metadata,
// created_at, updated_at}, which has no values ("thread metadata and
// status", get-thread). Agent Server: thread_id, config, and values and
// interrupts once it ran.
func (s *Server) threadJSONLocked(th *thread) map[string]any {
	meta := map[string]any{}
	maps.Copy(meta, th.metadata)
	if s.surface.managed() {
		return map[string]any{
			"id": th.id, "agent_id": th.agentID, "status": th.status, "metadata": meta,
			"created_at": th.createdAt, "updated_at": th.updatedAt,
		}
	}
	out := map[string]any{
		"thread_id": th.id, "status": th.status, "metadata": meta, "config": map[string]any{},
		"created_at": th.createdAt, "updated_at": th.updatedAt,
	}
	if th.runs > 0 {
		// Upstream keys interrupts by the task that raised them.
		interrupts := map[string]any{}
		if th.interrupt != nil {
			interrupts[th.interrupt.id] = []any{th.interrupt.item()}
		}
		out["values"] = s.threadValuesLocked(th)
		out["interrupts"] = interrupts
	}
	return out
}

// handleGetThread serves GET /threads/{tid}.
func (s *Server) handleGetThread(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[r.PathValue("tid")]
	if !ok {
		s.fail(w, errThreadNotFound(r.PathValue("tid")))
		return
	}
	writeJSON(w, http.StatusOK, s.threadJSONLocked(th))
}

// handleSearchThreads serves POST /threads/search: every thread, filtered by
// metadata equality when the body asks ({"metadata": {…}}).
func (s *Server) handleSearchThreads(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&q); err != nil && err != io.EOF {
		s.fail(w, errorf(http.StatusBadRequest, CodeInvalidRequestBody, "Provide a valid JSON request body"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, th := range s.threads {
		match := true
		for k, v := range q.Metadata {
			if th.metadata[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, s.threadJSONLocked(th))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCountThreads serves POST /threads/count (Managed: pass-through).
func (s *Server) handleCountThreads(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, len(s.threads))
}

// handleResolveInterrupt serves POST /threads/{tid}/resolve-interrupt: it
// ends a pause without input, answering 204, or 409 when the thread is not
// interrupted (resolve-interrupt.md lists 409).
func (s *Server) handleResolveInterrupt(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[r.PathValue("tid")]
	if !ok {
		s.fail(w, errThreadNotFound(r.PathValue("tid")))
		return
	}
	if th.interrupt == nil {
		s.fail(w, errorf(http.StatusConflict, CodeThreadNotInterrupted, "Resolve only an interrupted thread: thread is not interrupted"))
		return
	}
	th.interrupt = nil
	th.status = agents.ThreadIdle
	th.updatedAt = time.Now().UTC()
	s.notifyLocked()
	w.WriteHeader(http.StatusNoContent)
}

// handleGetState serves GET /threads/{tid}/state (Agent Server, and Managed
// where proxied).
func (s *Server) handleGetState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[r.PathValue("tid")]
	if !ok {
		s.fail(w, errThreadNotFound(r.PathValue("tid")))
		return
	}
	next := []string{}
	interrupts := []any{}
	tasks := []any{}
	if th.interrupt != nil {
		next = []string{"tools"}
		interrupts = append(interrupts, th.interrupt.item())
		tasks = append(tasks, map[string]any{
			"id": th.interrupt.id, "name": "tools", "interrupts": []any{th.interrupt.item()},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"values":     s.threadValuesLocked(th),
		"next":       next,
		"tasks":      tasks,
		"interrupts": interrupts,
		"metadata":   map[string]any{"thread_id": th.id, "assistant_id": th.agentID},
		"created_at": th.updatedAt,
	})
}

// handleCancelRun serves POST /threads/{tid}/runs/{rid}/cancel.
func (s *Server) handleCancelRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hold := s.holdCancels
	s.mu.Unlock()
	if hold != nil && !s.heldUntil(r, hold) {
		return // the client left: nothing cancelled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancels = append(s.cancels, r.PathValue("rid"))
	rn, ok := s.runs[r.PathValue("rid")]
	if !ok || rn.threadID != r.PathValue("tid") || s.cancelsFindNoRun {
		s.fail(w, errorf(http.StatusNotFound, CodeRunNotFound, "Run with ID %s not found", r.PathValue("rid")))
		return
	}
	rn.rollback = r.URL.Query().Get("action") == "rollback"
	rn.cancel()
	if th := s.threads[rn.threadID]; th != nil && th.current != rn && !rn.finished {
		// Still queued: it never starts.
		th.queue = removeRun(th.queue, rn)
		s.finishLocked(th, rn, agents.RunInterrupted)
	}
	if s.surface == AgentServer && r.URL.Query().Get("wait") != "true" {
		w.WriteHeader(http.StatusAccepted) // observed: 202 without wait, 204 with
		return
	}
	if r.URL.Query().Get("wait") == "true" {
		for !rn.finished {
			wake := s.changed
			s.mu.Unlock()
			select {
			case <-wake:
			case <-r.Context().Done():
				s.mu.Lock()
				return
			}
			s.mu.Lock()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func removeRun(q []*run, rn *run) []*run {
	out := q[:0]
	for _, x := range q {
		if x != rn {
			out = append(out, x)
		}
	}
	return out
}

// recordLocked keeps a run start or thread creation for Requests.
func (s *Server) recordLocked(r *http.Request, body []byte) {
	path := r.URL.Path
	if s.surface.managed() {
		path = strings.TrimPrefix(path, BasePath)
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Body: json.RawMessage(body)})
}
