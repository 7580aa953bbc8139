package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPIKey is the only key the fake API accepts.
const fakeAPIKey = "sk-test-0123456789abcdef"

// fakeAPIBasePath is where the fake mounts the API, like /v1/deepagents.
const fakeAPIBasePath = "/v1/deepagents"

// fakeAPI behaves like the Managed Deep Agents API for the routes the client
// uses: the auth layer's flat errors, ErrorResponse bodies, runs that start
// when a POST /threads/runs is accepted, threads in the MDA shape, and run
// streams. Faults can be queued to answer the next requests differently.
type fakeAPI struct {
	srv *httptest.Server

	mu          sync.Mutex
	requests    []fakeRequest
	faults      []fakeFault
	runsStarted int
	threads     map[string]bool
	stream      fakeStream
}

// fakeRequest is what the fake saw of one request.
type fakeRequest struct {
	Method, Path, RawQuery string
	EscapedPath            string
	Header                 http.Header
	Body                   string
}

// fakeFault answers one request instead of the normal handler. The API's
// own work (starting a run) is available through api.
type fakeFault func(api *fakeAPI, w http.ResponseWriter, r *http.Request, body []byte)

// fakeStream is what the run stream route sends: chunks written and flushed
// one at a time, then (if hold) waiting for the client to go away.
type fakeStream struct {
	status          int // default 200
	contentType     string
	contentLocation string
	chunks          []string
	hold            bool
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	api := &fakeAPI{threads: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+fakeAPIBasePath+"/threads/runs", api.createRun)
	mux.HandleFunc("GET "+fakeAPIBasePath+"/threads/{tid}", api.getThread)
	mux.HandleFunc("GET "+fakeAPIBasePath+"/threads/{tid}/state", api.getState)
	mux.HandleFunc("GET "+fakeAPIBasePath+"/threads/{tid}/runs/{rid}/stream", api.runStream)
	api.srv = httptest.NewServer(api.front(mux))
	t.Cleanup(api.srv.Close)
	return api
}

// URL is the base URL a client should use.
func (api *fakeAPI) URL() string { return api.srv.URL + fakeAPIBasePath }

// front records the request, applies queued faults and the auth layer.
func (api *fakeAPI) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		api.mu.Lock()
		api.requests = append(api.requests, fakeRequest{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, EscapedPath: r.URL.EscapedPath(),
			Header: r.Header.Clone(), Body: string(body),
		})
		var fault fakeFault
		if len(api.faults) > 0 {
			fault, api.faults = api.faults[0], api.faults[1:]
		}
		api.mu.Unlock()
		if fault != nil {
			fault(api, w, r, body)
			return
		}
		switch key := r.Header.Get("X-Api-Key"); {
		case key == "":
			writeJSON(w, http.StatusUnauthorized, `{"error":"Unauthorized"}`)
		case key != fakeAPIKey:
			writeJSON(w, http.StatusForbidden, `{"error":"Forbidden"}`)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// queue adds faults answering the next requests, in order.
func (api *fakeAPI) queue(faults ...fakeFault) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.faults = append(api.faults, faults...)
}

func (api *fakeAPI) setStream(s fakeStream) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.stream = s
}

func (api *fakeAPI) seen() []fakeRequest {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]fakeRequest(nil), api.requests...)
}

func (api *fakeAPI) started() int {
	api.mu.Lock()
	defer api.mu.Unlock()
	return api.runsStarted
}

// startRun is the API's side effect of an accepted POST /threads/runs. It
// returns the status and body to answer with.
func (api *fakeAPI) startRun(body []byte) (int, string, http.Header) {
	var req CreateRunRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, errorResponse(http.StatusBadRequest, "invalid_request_body", "Send a JSON object: "+err.Error()), nil
	}
	if req.AgentID == "" {
		return http.StatusBadRequest, errorResponse(http.StatusBadRequest, "missing_required_field", "Provide agent_id: field is required"), nil
	}
	if req.AgentID == "missing-agent" {
		return http.StatusNotFound, errorResponse(http.StatusNotFound, "agent_not_found", "Check the agent id: agent not found"), nil
	}
	api.mu.Lock()
	api.runsStarted++
	n := api.runsStarted
	tid := fmt.Sprintf("thread-%d", n)
	if req.Thread != nil && req.Thread.ThreadID != "" {
		tid = req.Thread.ThreadID
	}
	api.threads[tid] = true
	api.mu.Unlock()
	rid := fmt.Sprintf("run-%d", n)
	h := http.Header{"Content-Location": {fakeAPIBasePath + "/threads/" + tid + "/runs/" + rid}}
	return http.StatusOK, fmt.Sprintf(`{"run_id":%q,"thread_id":%q,"assistant_id":%q,"status":"pending",`+
		`"metadata":{"slack_user_id":"U1"},"created_at":"2026-07-01T10:00:00Z","updated_at":"2026-07-01T10:00:00Z",`+
		`"multitask_strategy":"enqueue"}`, rid, tid, req.AgentID), h
}

func (api *fakeAPI) createRun(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	status, resp, h := api.startRun(body)
	for k, v := range h {
		w.Header()[k] = v
	}
	writeJSON(w, status, resp)
}

func (api *fakeAPI) getThread(w http.ResponseWriter, r *http.Request) {
	tid := r.PathValue("tid")
	api.mu.Lock()
	known := api.threads[tid]
	api.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, errorResponse(http.StatusNotFound, "thread_not_found", "Check the thread id: thread not found"))
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":%q,"agent_id":"","status":"idle",`+
		`"metadata":{"is_test_run":false,"skip_memory_write_protection":false},`+
		`"created_at":"2026-07-01T10:00:00Z","updated_at":"2026-07-01T10:05:00Z"}`, tid))
}

// getState answers like the MDA API, which does not proxy thread state.
func (api *fakeAPI) getState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, errorResponse(http.StatusNotFound, "not_found", "Route not found"))
}

func (api *fakeAPI) runStream(w http.ResponseWriter, r *http.Request) {
	api.mu.Lock()
	s := api.stream
	api.mu.Unlock()
	if s.contentLocation != "" {
		w.Header().Set("Content-Location", s.contentLocation)
	}
	ct := s.contentType
	if ct == "" {
		ct = "text/event-stream; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	status := s.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	for _, c := range s.chunks {
		if _, err := io.WriteString(w, c); err != nil {
			return
		}
		_ = rc.Flush()
	}
	if s.hold {
		<-r.Context().Done()
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func errorResponse(status int, code, detail string) string {
	b, _ := json.Marshal(map[string]any{
		"type": "https://docs.langchain.com/errors/" + code, "code": code, "detail": detail, "status": status,
	})
	return string(b)
}

// Faults.

// answer replies with status, body and headers.
func answer(status int, body string, header ...string) fakeFault {
	return func(_ *fakeAPI, w http.ResponseWriter, _ *http.Request, _ []byte) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		writeJSON(w, status, body)
	}
}

// dropAfterStart starts the run (the API got the whole request) and then
// drops the connection without answering.
func dropAfterStart() fakeFault {
	return func(api *fakeAPI, w http.ResponseWriter, _ *http.Request, body []byte) {
		api.startRun(body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		_ = conn.Close()
	}
}

// sleepRecorder replaces Client.sleep: it records the delays and returns at
// once, so tests check backoff without waiting for it.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// newFakeClient returns a client of api whose backoff is recorded, not slept.
func newFakeClient(t *testing.T, baseURL string, opts ...Option) (*Client, *sleepRecorder) {
	t.Helper()
	opts = append([]Option{WithRetry(4, time.Millisecond, 10*time.Millisecond)}, opts...)
	c, err := New(baseURL, fakeAPIKey, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := &sleepRecorder{}
	c.sleep = rec.sleep
	return c, rec
}
