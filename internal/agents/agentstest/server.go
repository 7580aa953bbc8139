// Package agentstest is an in-process fake of the runtimes the bot talks to,
// for tests and demos: the Managed Deep Agents API with only its documented
// routes, the same API proxying more Agent Server routes (run join, thread
// state, cancel), and a LangGraph Agent Server itself (see Surface).
//
// Agents are scripts: each run asks the agent's Script for Steps (text,
// todos, tool calls, subagents, memory writes, approvals, failures) and plays
// them as the real runtime would, streaming server-sent events, pausing on
// human-in-the-loop interrupts and validating resume decisions. Fault knobs
// (cut streams, failing run starts, latency, a down server) exercise a
// client's error handling.
package agentstest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

// BasePath is where the fake mounts the API, like the real service's
// https://api.smith.langchain.com/v1/deepagents.
const BasePath = "/v1/deepagents"

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	// URL is the API base URL, ending in /v1/deepagents.
	URL string
	// LangSmithURL is the LangSmith API the Managed surfaces live on
	// (POST /feedback); "" for an AgentServer.
	LangSmithURL string

	hs             *httptest.Server
	apiKey         string
	surface        Surface
	ignoreThreadID bool // POST /threads of the earlier spec revision
	failSubgraphs  bool // runs asking for stream_subgraphs fail like langgraph-api 2.0.0
	detailErrors   bool // Agent Server errors as {"detail": …} (Python server)
	noRunMetadata  bool // streams do not start with the metadata event
	webhooks       bool
	h2c            bool          // serve cleartext HTTP/2 besides HTTP/1.1
	heartbeatIdle  time.Duration // between heartbeats of an idle stream
	style          agentStyle
	webhookClient  *http.Client

	// openStreams counts run streams being served; conns the connections
	// accepted, so tests see streams share connections over HTTP/2.
	openStreams atomic.Int64
	conns       atomic.Int64

	ctx    context.Context // cancelled by Close; parent of every run
	cancel context.CancelFunc
	wg     sync.WaitGroup // run workers and webhook deliveries

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced whenever runs change
	agentScript map[string]agentDef
	threads     map[string]*thread
	runs        map[string]*run
	runOrder    []*run
	requests    []Request
	feedback    []Feedback
	cancels     []string // run ids of every cancel request, known or not
	runsStarted int
	inFlight    int // webhook deliveries under way
	cutAfter    int
	failStarts  int
	failStatus  int
	latency     time.Duration
	down        bool
	// dropStartAnswers, stallAfter, holdThreadCreates and withholdStart*
	// are the knobs of faults_stuck.go.
	dropStartAnswers        int
	stallAfter              int
	holdThreadCreates       <-chan struct{}
	holdCancels             <-chan struct{} // see HoldCancels
	cancelsFindNoRun        bool            // see CancelsFindNoRun
	withholdStart           bool
	withholdStartKeepsAlive bool
}

type agentDef struct {
	script Script
	style  agentStyle
}

// NewServer starts a fake on a local port. Close it when done.
func NewServer(opts ...Option) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		apiKey:        "test-key",
		webhooks:      true,
		heartbeatIdle: defaultHeartbeatIdle,
		webhookClient: &http.Client{Timeout: 10 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		ctx:           ctx,
		cancel:        cancel,
		changed:       make(chan struct{}),
		agentScript:   map[string]agentDef{},
		threads:       map[string]*thread{},
		runs:          map[string]*run{},
	}
	for _, o := range opts {
		o.applyServer(s)
	}
	if s.surface == AgentServer {
		// Observed on @langchain/langgraph-api 2.0.0 (deepagents JS): HITL
		// requests in camelCase and no `end` event at the end of a stream.
		s.style.camel = true
		s.style.noEnd = true
	}
	s.hs = httptest.NewUnstartedServer(s.routes())
	s.hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if s.h2c {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true) // prior knowledge only, no Upgrade: as Go's client speaks it
		s.hs.Config.Protocols = p
	}
	s.hs.Start()
	s.URL = s.hs.URL + BasePath
	s.LangSmithURL = s.hs.URL
	if s.surface == AgentServer {
		s.URL = s.hs.URL // a deployment serves at its root
		s.LangSmithURL = ""
	}
	return s
}

// OpenStreams reports how many run event streams are being served now.
func (s *Server) OpenStreams() int { return int(s.openStreams.Load()) }

// Connections reports how many connections the server has accepted.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Close stops every run, closes all connections and waits for the server's
// goroutines to finish.
func (s *Server) Close() {
	s.cancel()
	s.hs.CloseClientConnections()
	s.hs.Close()
	s.wg.Wait()
	s.webhookClient.CloseIdleConnections()
}

// AddAgent registers (or replaces) agentID, played by script.
func (s *Server) AddAgent(agentID string, script Script, opts ...AgentOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.style
	for _, o := range opts {
		o.applyAgent(&st)
	}
	s.agentScript[agentID] = agentDef{script: script, style: st}
}

// CutStreamsAfter makes every stream connection opened from now on close
// abruptly (no `end`, broken chunked encoding) after n events; 0 turns it off.
func (s *Server) CutStreamsAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutAfter = n
}

// FailRunStarts makes the next n POST /threads/runs answer status with the
// error body the real service sends for it, starting nothing.
func (s *Server) FailRunStarts(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStarts, s.failStatus = n, status
}

// SetLatency delays every run start by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetDown makes the server close every connection without answering.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// gate applies the down knob and the auth layer in front of every route.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			dropConnection(w)
			return
		}
		key := r.Header.Get("X-Api-Key")
		switch {
		case s.apiKey == "":
			// An Agent Server without auth (langgraph dev).
		case key == "":
			s.recordRejected(r)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		case subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) != 1:
			s.recordRejected(r)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "Forbidden"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dropConnection closes the client's connection without a response.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Cannot hijack (HTTP/2): the closest thing is aborting the handler.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// notifyLocked wakes everyone waiting for a change. Callers hold s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitIdle waits until no run is pending or running and every webhook has
// been delivered.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		busy := s.inFlight > 0
		for _, r := range s.runOrder {
			if !r.finished {
				busy = true
				break
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
}

// Request is one request that starts a run or creates a thread, as received.
type Request struct {
	Method string
	Path   string // without the base path, e.g. /threads/{id}/runs/stream
	Body   json.RawMessage
}

// StartsRun reports whether the request is a run start (POST /threads/runs,
// /threads/{id}/runs or /threads/{id}/runs/stream).
func (r Request) StartsRun() bool {
	return r.Method == http.MethodPost && (r.Path == "/threads/runs" || strings.HasSuffix(r.Path, "/runs") || strings.HasSuffix(r.Path, "/runs/stream"))
}

// Requests returns every run start and thread creation the server received,
// accepted or rejected, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Cancels returns the run id of every POST …/runs/{run_id}/cancel received,
// in order, whether the run exists or not.
func (s *Server) Cancels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cancels...)
}

// RunRequests returns the raw bodies of every run start the server received
// (on any run route), accepted or rejected, in order.
func (s *Server) RunRequests() []json.RawMessage {
	var out []json.RawMessage
	for _, r := range s.Requests() {
		if r.StartsRun() {
			out = append(out, r.Body)
		}
	}
	return out
}

// Surface is the runtime the fake plays.
func (s *Server) Surface() Surface { return s.surface }

// RunsStarted counts the runs accepted so far.
func (s *Server) RunsStarted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runsStarted
}

// RunInfo describes one accepted run.
type RunInfo struct {
	RunID             string
	ThreadID          string
	AgentID           string
	Status            string
	Options           agents.ThreadOptions
	Input             []agents.Message
	Resume            *agents.Resume
	Metadata          map[string]any
	MultitaskStrategy string
	Webhook           string
	// Context and Config are the run's context and config kwargs.
	Context         map[string]any
	Config          map[string]any
	OnDisconnect    string
	StreamSubgraphs bool
	// Route is the path the run was started on, e.g. /threads/runs.
	Route string
}

// Runs returns every accepted run in start order.
func (s *Server) Runs() []RunInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RunInfo, 0, len(s.runOrder))
	for _, r := range s.runOrder {
		out = append(out, r.info())
	}
	return out
}

// ThreadInfo describes one thread.
type ThreadInfo struct {
	ThreadID string
	AgentID  string
	Status   string
	Options  agents.ThreadOptions
	Metadata map[string]any
	Messages []agents.Message
	Todos    []Todo
	// Memories are the files written under /memories/, by path.
	Memories map[string]string
	// Interrupted holds the pending action requests, if any.
	Interrupted []Action
	// Executed are the tool calls that waited for a decision (or, for memory
	// writes on a headless thread, needed none) and ran, in order, with the
	// arguments they ran with (an edit's arguments and tool name).
	Executed []Action
	Runs     int
}

// Thread returns thread id's current state.
func (s *Server) Thread(id string) (ThreadInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[id]
	if !ok {
		return ThreadInfo{}, false
	}
	return th.info(), true
}

// RunEvents returns the events a run has emitted so far, as a client would
// decode them (data compacted).
func (s *Server) RunEvents(runID string) []agents.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return nil
	}
	out := make([]agents.Event, 0, len(r.events))
	for _, e := range r.events {
		out = append(out, e.decoded())
	}
	return out
}
