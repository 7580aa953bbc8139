package agentstest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error codes the fake answers with. The first four are published; the others
// name documented statuses whose codes are not.
const (
	CodeMissingRequiredField = "missing_required_field"
	CodeInvalidRequestBody   = "invalid_request_body"
	CodeAgentNotFound        = "agent_not_found"
	CodeUpstreamAuthFailed   = "upstream_auth_failed"
	CodeInvalidField         = "invalid_field"
	CodeValidation           = "validation_error"
	CodeThreadNotFound       = "thread_not_found"
	CodeRunNotFound          = "run_not_found"
	CodeThreadExists         = "thread_already_exists"
	CodeThreadAgentMismatch  = "thread_agent_mismatch"
	CodeThreadBusy           = "thread_busy"
	CodeThreadNotInterrupted = "thread_not_interrupted"
	CodeInvalidResume        = "invalid_resume"
	CodeRateLimited          = "rate_limited"
	CodeInternal             = "internal_error"
	CodeUnavailable          = "service_unavailable"
)

// apiError is a structured ErrorResponse.
type apiError struct {
	status int
	code   string
	detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.detail) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, detail: fmt.Sprintf(format, args...)}
}

// fail answers e in the surface's error shape.
func (s *Server) fail(w http.ResponseWriter, e *apiError) {
	if s.surface != AgentServer {
		e.write(w)
		return
	}
	switch {
	case s.detailErrors:
		// The Python Agent Server: {"detail": …} (agent-runtime-api.md §5).
		writeJSON(w, e.status, map[string]any{"detail": e.detail})
	case e.code == CodeInvalidRequestBody:
		// Observed on @langchain/langgraph-api 2.0.0: 400 text/plain.
		writeText(w, http.StatusBadRequest, "Malformed JSON in request body")
	case e.code == CodeMissingRequiredField || e.code == CodeInvalidField || e.code == CodeValidation:
		// Observed on @langchain/langgraph-api 2.0.0: validation fails with
		// 400 and the Zod error as JSON.
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"success": false,
			"error": map[string]any{
				"issues": []any{map[string]any{"code": "custom", "message": e.detail, "path": []any{}}},
				"name":   "ZodError",
			},
		})
	default:
		// Observed on @langchain/langgraph-api 2.0.0: other errors are
		// text/plain, e.g. "Thread with ID … not found".
		writeText(w, e.status, e.detail)
	}
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// errThreadNotFound is the answer for a thread that does not exist.
func errThreadNotFound(id string) *apiError {
	return errorf(http.StatusNotFound, CodeThreadNotFound, "Thread with ID %s not found", id)
}

func (e *apiError) write(w http.ResponseWriter) {
	writeJSON(w, e.status, map[string]any{
		"type":   "https://docs.langchain.com/errors/" + e.code,
		"code":   e.code,
		"detail": e.detail,
		"status": e.status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatusError answers status with the body the real service sends for
// it; used by the FailRunStarts knob.
func (s *Server) writeStatusError(w http.ResponseWriter, status int) {
	if s.surface == AgentServer && status != http.StatusUnauthorized && status != http.StatusForbidden {
		s.fail(w, errorf(status, CodeInternal, "%s", http.StatusText(status)))
		return
	}
	switch status {
	case http.StatusUnauthorized:
		writeJSON(w, status, map[string]string{"error": "Unauthorized"})
	case http.StatusForbidden:
		writeJSON(w, status, map[string]string{"error": "Forbidden"})
	case http.StatusNotFound:
		errorf(status, CodeAgentNotFound, "Verify the agent ID and that the calling identity has access: agent not found").write(w)
	case http.StatusConflict:
		errorf(status, CodeThreadBusy, "Wait for the current run to finish or choose a different multitask strategy: thread is already running a task").write(w)
	case http.StatusUnprocessableEntity:
		errorf(status, CodeValidation, "Fix the run parameters: request failed validation").write(w)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		errorf(status, CodeRateLimited, "Retry after a short delay: too many requests").write(w)
	case http.StatusBadGateway:
		errorf(status, CodeUpstreamAuthFailed, "Verify that the calling identity is authorized for this organization: upstream agent runtime rejected the request").write(w)
	case http.StatusServiceUnavailable:
		errorf(status, CodeUnavailable, "Retry later: a dependency is unavailable").write(w)
	case http.StatusBadRequest:
		errorf(status, CodeInvalidRequestBody, "Provide a valid JSON request body matching the documented schema").write(w)
	default:
		errorf(status, CodeInternal, "Retry later: internal error").write(w)
	}
}
