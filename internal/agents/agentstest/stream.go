package agentstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

// heartbeatEvery is how many events pass between heartbeat comments; idle
// streams also get one every heartbeatIdle of the server.
const (
	heartbeatEvery       = 3
	defaultHeartbeatIdle = 200 * time.Millisecond
)

// sseEvent is one stored event of a run. data is pretty-printed JSON so that
// it spans several data: lines on the wire.
type sseEvent struct {
	id   string
	name string
	data []byte
}

func (e sseEvent) decoded() agents.Event {
	var buf bytes.Buffer
	if err := json.Compact(&buf, e.data); err != nil {
		buf.Write(e.data)
	}
	mode, ns, _ := strings.Cut(e.name, "|")
	ev := agents.Event{ID: e.id, Name: e.name, Mode: mode, Data: buf.Bytes()}
	if ns != "" {
		ev.Namespace = strings.Split(ns, "|")
	}
	return ev
}

// emitLocked appends an event to rn's log if the run's stream_mode and
// stream_subgraphs ask for it. metadata, error and end always go out.
func (s *Server) emitLocked(rn *run, mode, ns string, data any) {
	if rn.done {
		return
	}
	switch mode {
	case "metadata", "error", "end":
	case "messages":
		if !slices.Contains(rn.req.streamMode, "messages-tuple") {
			return
		}
	default:
		if !slices.Contains(rn.req.streamMode, mode) {
			return
		}
	}
	if ns != "" && !rn.req.subgraphs {
		return
	}
	name := mode
	if ns != "" {
		name += "|" + ns
	}
	b, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		b = []byte("null")
	}
	rn.events = append(rn.events, sseEvent{id: strconv.Itoa(rn.seq + s.firstEventID()), name: name, data: b})
	rn.seq++
	close(rn.notify)
	rn.notify = make(chan struct{})
}

// handleJoinStream serves GET /threads/{tid}/runs/{rid}/stream: it replays
// the run's events after Last-Event-ID, then follows live until the run
// ends. Leaving it never cancels the run (the bot asks
// cancel_on_disconnect=false, which is also the default).
func (s *Server) handleJoinStream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rn, ok := s.runs[r.PathValue("rid")]
	s.mu.Unlock()
	if !ok || rn.threadID != r.PathValue("tid") {
		s.fail(w, errorf(http.StatusNotFound, CodeRunNotFound, "Run with ID %s not found", r.PathValue("rid")))
		return
	}
	next := 0
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if n, err := strconv.Atoi(last); err == nil {
			next = max(0, n-s.firstEventID()+1) // the event after id n
		}
	}
	cancelOnDisconnect := r.URL.Query().Get("cancel_on_disconnect") == "true"
	s.serveEvents(w, r, rn, next, cancelOnDisconnect)
}

// firstEventID is the id of a run's first event: 0 on the Agent Server
// (observed on @langchain/langgraph-api 2.0.0, where Last-Event-ID -1
// replays from the start), 1 elsewhere.
func (s *Server) firstEventID() int {
	if s.surface == AgentServer {
		return 0
	}
	return 1
}

// handleStreamRun serves POST /threads/{tid}/runs/stream: it starts a run
// and streams its events from the first. The run's on_disconnect decides
// what a dropped connection does: "cancel" (the runtime's default,
// agent-runtime-api.md §2) stops the run.
func (s *Server) handleStreamRun(w http.ResponseWriter, r *http.Request) {
	rn, _, ok := s.acceptRun(w, r, routeStream)
	if !ok {
		return
	}
	if s.surface != ManagedDocumented {
		// The Agent Server names the run in Content-Location (the SDK reads
		// it there); the documented Managed API promises no header.
		w.Header().Set("Content-Location", "/threads/"+rn.threadID+"/runs/"+rn.id)
	}
	if s.withholdStartEvents(w, r, rn) {
		return
	}
	s.serveEvents(w, r, rn, 0, rn.req.onDisconnect == "cancel")
}

// serveEvents writes rn's events from index next and follows the run live
// until it ends or the connection goes. With cancelOnDisconnect a
// connection that goes (or is cut by CutStreamsAfter) before the run ended
// cancels the run.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, rn *run, next int, cancelOnDisconnect bool) {
	s.mu.Lock()
	cut, stall := s.cutAfter, s.stallAfter
	s.mu.Unlock()
	complete := false
	defer func() {
		if !complete && cancelOnDisconnect {
			s.mu.Lock()
			rn.cancel()
			s.mu.Unlock()
		}
	}()
	s.openStreams.Add(1) // before the client sees the stream open
	defer s.openStreams.Add(-1)
	rc := startEventStream(w)

	ticker := time.NewTicker(s.heartbeatIdle)
	defer ticker.Stop()
	written := 0
	for {
		s.mu.Lock()
		var pending []sseEvent
		if next < len(rn.events) {
			pending = append(pending, rn.events[next:]...)
		}
		done, wake := rn.done, rn.notify
		s.mu.Unlock()
		for _, e := range pending {
			if err := writeEvent(w, e); err != nil {
				return
			}
			next++
			written++
			if written%heartbeatEvery == 0 {
				_, _ = io.WriteString(w, ": heartbeat\n\n")
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if cut > 0 && written >= cut {
				dropConnection(w)
				return
			}
			if stall > 0 && written >= stall {
				// Silent, not closed: only the client's watchdog ends it.
				select {
				case <-r.Context().Done():
				case <-s.ctx.Done():
				}
				return
			}
		}
		if done && len(pending) == 0 {
			complete = true
			return
		}
		if len(pending) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ticker.C:
			if _, err := io.WriteString(w, ": heartbeat\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			complete = true // the server is closing, not the client leaving
			return
		}
	}
}

// writeEvent writes one event with its JSON split across data: lines.
func writeEvent(w http.ResponseWriter, e sseEvent) error {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nevent: %s\n", e.id, e.name)
	for line := range strings.SplitSeq(string(e.data), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// handleGetRun serves GET /threads/{tid}/runs/{rid} (Agent Server only).
func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.runs[r.PathValue("rid")]
	if !ok || rn.threadID != r.PathValue("tid") {
		s.fail(w, errorf(http.StatusNotFound, CodeRunNotFound, "Run with ID %s not found", r.PathValue("rid")))
		return
	}
	writeJSON(w, http.StatusOK, rn.recordLocked())
}

// startEventStream answers 200 text/event-stream and flushes the headers, as
// every run stream of the runtime starts; the controller flushes later events.
func startEventStream(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	return rc
}
