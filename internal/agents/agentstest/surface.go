package agentstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Surface is which runtime API the fake plays. A fake is only as good as
// what it refuses: each surface serves exactly the routes the real one
// exposes and answers everything else 404, like a real router.
type Surface int

const (
	// ManagedProxy is the Managed Deep Agents API plus the Agent Server
	// routes it may proxy: run join/stream, get run, cancel and thread
	// state (../reference/agent-runtime-api.md §1 "Probe before assuming
	// that unlisted upstream paths are proxied"). The default.
	ManagedProxy Surface = iota
	// ManagedDocumented is the Managed Deep Agents API with only its
	// published routes (../reference/openapi/): POST /threads,
	// POST /threads/runs, GET /threads/{id}, POST /threads/search,
	// POST /threads/count, POST /threads/{id}/runs,
	// POST /threads/{id}/runs/stream, POST /threads/{id}/resolve-interrupt.
	// Its docs: the API "does not mirror every LangSmith Deployment
	// endpoint" (managed-deep-agents-api-overview). Its Thread has no values.
	ManagedDocumented
	// AgentServer is a LangGraph Agent Server deployment, mounted at the
	// root: assistant_id, no thread options, no POST /threads/runs, errors
	// as observed on @langchain/langgraph-api 2.0.0 (plain-text bodies; Zod
	// JSON for validation), see /work/notes/agent-server.md.
	AgentServer
)

func (s Surface) String() string {
	switch s {
	case ManagedDocumented:
		return "managed-documented"
	case AgentServer:
		return "agent-server"
	}
	return "managed-proxy"
}

func (s Surface) managed() bool { return s != AgentServer }

// WithSurface picks the runtime the fake plays (default ManagedProxy).
func WithSurface(sf Surface) Option { return serverOption(func(s *Server) { s.surface = sf }) }

// WithoutThreadIDOnCreate makes POST /threads behave like the earlier
// published revision (../reference/openapi/managed-deep-agents-openapi.json,
// CreateThreadRequest = {agent_id, options}): thread_id, if_exists and
// metadata are ignored and the thread gets an id of the server's choosing.
// Managed surfaces only.
func WithoutThreadIDOnCreate() Option {
	return serverOption(func(s *Server) { s.ignoreThreadID = true })
}

// FailSubgraphStreams makes every run that asks for stream_subgraphs with a
// stream_mode including "values" fail at once, as observed on
// @langchain/langgraph-api 2.0.0 with a deepagents graph (product.md
// "Runtime surfaces"; /work/notes/agent-server.md): 200, the metadata
// event, then `error` {"error":"TypeError","message":"Cannot read
// properties of undefined (reading 'map')"}, run and thread in error.
func FailSubgraphStreams() Option {
	return serverOption(func(s *Server) { s.failSubgraphs = true })
}

// WithoutRunIDInStream makes streams start without the metadata event
// ({"run_id": …}) that names the run: that event is the Agent Server's
// (agent-runtime-api.md §3, from its source), which the documented Managed
// API does not promise. With ManagedDocumented (no Content-Location either)
// a streamed run's id then stays unknown to the client.
func WithoutRunIDInStream() Option { return serverOption(func(s *Server) { s.noRunMetadata = true }) }

// WithDetailErrors makes an AgentServer answer errors as {"detail": …}, as
// the Python Agent Server does, instead of the JS server's plain text.
func WithDetailErrors() Option { return serverOption(func(s *Server) { s.detailErrors = true }) }

// subgraphFailure is the real server's message for such a run.
const subgraphFailure = "Cannot read properties of undefined (reading 'map')"

// routes mounts the surface's routes. Go's ServeMux answers 404 for any
// other path (405 for a known path with another method), like a real router.
func (s *Server) routes() http.Handler {
	base := BasePath
	if s.surface == AgentServer {
		base = ""
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+base+path, h)
	}
	handle("POST /threads", s.handleCreateThread)
	handle("GET /threads/{tid}", s.handleGetThread)
	handle("POST /threads/search", s.handleSearchThreads)
	handle("POST /threads/{tid}/runs", s.handleThreadRun)
	handle("POST /threads/{tid}/runs/stream", s.handleStreamRun)
	if s.surface.managed() {
		handle("POST /threads/runs", s.handleCreateRun)
		handle("POST /threads/count", s.handleCountThreads)
		handle("POST /threads/{tid}/resolve-interrupt", s.handleResolveInterrupt)
	}
	if s.surface.managed() {
		// The Managed API lives on the LangSmith API host, whose
		// POST /feedback scores runs.
		mux.HandleFunc("POST /feedback", s.handleFeedback)
	}
	if s.surface != ManagedDocumented {
		handle("GET /threads/{tid}/state", s.handleGetState)
		handle("GET /threads/{tid}/runs/{rid}", s.handleGetRun)
		handle("GET /threads/{tid}/runs/{rid}/stream", s.handleJoinStream)
		handle("POST /threads/{tid}/runs/{rid}/cancel", s.handleCancelRun)
	}
	if s.surface == AgentServer {
		handle("GET /ok", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, map[string]any{"ok": true}) })
		handle("GET /info", s.handleInfo)
		handle("POST /assistants/search", s.handleSearchAssistants)
		handle("GET /threads/{tid}/runs", s.handleListRuns)
		handle("GET /threads/{tid}/runs/{rid}/join", s.handleJoinRun)
	}
	if s.surface == AgentServer {
		return s.gate(jsNotFound(mux))
	}
	return s.gate(mux)
}

// jsNotFound answers paths the mux has no route for (any method) the way
// @langchain/langgraph-api 2.0.0 does: 404, text/plain, "404 Not Found".
func jsNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("404 Not Found"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// handleInfo serves GET /info. The version says how the server treats
// stream_subgraphs: 2.0.0 fails such runs (FailSubgraphStreams), 1.5.1
// streams subgraph events (observed, /work/notes/agent-server.md).
func (s *Server) handleInfo(w http.ResponseWriter, _ *http.Request) {
	version := "1.5.1"
	if s.failSubgraphs {
		version = "2.0.0"
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": version, "context": "js"})
}

// handleSearchAssistants serves POST /assistants/search {graph_id}: every
// agent added with AddAgent is a graph with an assistant of the same name.
func (s *Server) handleSearchAssistants(w http.ResponseWriter, r *http.Request) {
	var q struct {
		GraphID string `json:"graph_id"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&q)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for id := range s.agentScript {
		if q.GraphID == "" || q.GraphID == id {
			out = append(out, map[string]any{"assistant_id": id, "graph_id": id, "name": id})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleListRuns serves GET /threads/{tid}/runs, newest first.
func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.threads[r.PathValue("tid")]; !ok {
		s.fail(w, errThreadNotFound(r.PathValue("tid")))
		return
	}
	out := []any{}
	for i := len(s.runOrder) - 1; i >= 0; i-- {
		if rn := s.runOrder[i]; rn.threadID == r.PathValue("tid") {
			out = append(out, rn.recordLocked())
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleJoinRun serves GET /threads/{tid}/runs/{rid}/join: it waits for the
// run to end and answers the thread's values (observed: without
// __interrupt__, and with no error marker for a failed run).
func (s *Server) handleJoinRun(w http.ResponseWriter, r *http.Request) {
	for {
		s.mu.Lock()
		rn, ok := s.runs[r.PathValue("rid")]
		if !ok || rn.threadID != r.PathValue("tid") {
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"__error__": map[string]any{"error": "Error", "message": `"Run not found"`}})
			return
		}
		wake := s.changed
		if rn.finished {
			values := s.threadValuesLocked(s.threads[rn.threadID])
			delete(values, "__interrupt__")
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, values)
			return
		}
		s.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}
