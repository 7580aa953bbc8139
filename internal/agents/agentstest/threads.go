package agentstest

import (
	"net/http"
)

// handleGetThread serves GET /threads/{tid}: the thread with its status,
// metadata (options echoed as is_test_run / skip_memory_write_protection),
// latest values and pending interrupts.
func (s *Server) handleGetThread(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[r.PathValue("tid")]
	if !ok {
		errorf(http.StatusNotFound, CodeThreadNotFound, "Verify the thread ID: thread not found").write(w)
		return
	}
	meta := map[string]any{}
	for k, v := range th.metadata {
		meta[k] = v
	}
	// Upstream keys interrupts by the task that raised them.
	interrupts := map[string]any{}
	if th.interrupt != nil {
		interrupts[th.interrupt.id] = []any{th.interrupt.item()}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"thread_id":  th.id,
		"id":         th.id,
		"agent_id":   th.agentID,
		"status":     th.status,
		"metadata":   meta,
		"values":     s.threadValuesLocked(th),
		"interrupts": interrupts,
		"created_at": th.createdAt,
		"updated_at": th.updatedAt,
	})
}

// handleGetState serves GET /threads/{tid}/state (Agent Server).
func (s *Server) handleGetState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[r.PathValue("tid")]
	if !ok {
		errorf(http.StatusNotFound, CodeThreadNotFound, "Verify the thread ID: thread not found").write(w)
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
