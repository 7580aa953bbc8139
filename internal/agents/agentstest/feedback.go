package agentstest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
)

// Feedback is a score sent to the fake's POST /feedback.
type Feedback struct {
	ID      string   `json:"id"`
	RunID   string   `json:"run_id"`
	Key     string   `json:"key"`
	Score   *float64 `json:"score"`
	Comment string   `json:"comment"`
}

// Feedback returns the feedback received so far, in order.
func (s *Server) Feedback() []Feedback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.feedback)
}

// handleFeedback serves LangSmith's POST /feedback
// (LangSmith API reference, "Create Feedback"; the SDK posts it to
// {api_url}/feedback): run_id, key,
// score, comment, optional id). It refuses what LangSmith refuses: no key
// (422), a run it does not know (404), an id already used (409).
func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request) {
	var f Feedback
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": "body is not JSON: " + err.Error()})
		return
	}
	if f.Key == "" || f.RunID == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": "key and run_id are required"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[f.RunID]; !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Run not found"})
		return
	}
	if f.ID != "" && slices.ContainsFunc(s.feedback, func(o Feedback) bool { return o.ID == f.ID }) {
		writeJSON(w, http.StatusConflict, map[string]any{"detail": "Feedback already exists"})
		return
	}
	s.feedback = append(s.feedback, f)
	writeJSON(w, http.StatusOK, map[string]any{"id": f.ID, "run_id": f.RunID, "key": f.Key})
}
