package agentstest

import (
	"io"
	"net/http"
	"time"
)

// DropRunStartAnswers makes the next n run starts (on any run-start route)
// start their run and then close the connection without answering: the
// client sent the request in full and cannot tell whether the run started.
func (s *Server) DropRunStartAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropStartAnswers = n
}

// StallStreamsAfter makes every stream connection opened from now on go
// silent after n events: no more events and no keep-alives, the connection
// left open until the client gives up. 0 turns it off.
func (s *Server) StallStreamsAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stallAfter = n
}

// takeDropStartAnswerLocked reports whether this run start's answer is to
// be dropped, counting it.
func (s *Server) takeDropStartAnswerLocked() bool {
	if s.dropStartAnswers <= 0 {
		return false
	}
	s.dropStartAnswers--
	return true
}

// HoldThreadCreates makes every POST /threads from now on wait without an
// answer until release is closed; a client that leaves meanwhile creates
// nothing. nil turns it off.
func (s *Server) HoldThreadCreates(release <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdThreadCreates = release
}

// heldUntil waits for release; false when the client left first.
func (s *Server) heldUntil(r *http.Request, release <-chan struct{}) bool {
	select {
	case <-release:
		return true
	case <-r.Context().Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// WithholdRunStartEvents makes every run started from now on through POST
// /threads/{id}/runs/stream answer 200 text/event-stream and then send no
// event, not even the metadata one, while the run goes on: with keepAlives
// only keep-alive comments arrive, else nothing at all. The connection
// stays open until the client gives up. Joins of the run are served as
// usual.
func (s *Server) WithholdRunStartEvents(keepAlives bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withholdStart, s.withholdStartKeepsAlive = true, keepAlives
}

// withholdStartEvents serves a run start's stream as WithholdRunStartEvents
// says, and reports whether it did. A connection that goes cancels the run
// when its on_disconnect is "cancel", as serveEvents does.
func (s *Server) withholdStartEvents(w http.ResponseWriter, r *http.Request, rn *run) bool {
	s.mu.Lock()
	on, keepAlives := s.withholdStart, s.withholdStartKeepsAlive
	s.mu.Unlock()
	if !on {
		return false
	}
	defer func() {
		if rn.req.onDisconnect == "cancel" {
			s.mu.Lock()
			rn.cancel()
			s.mu.Unlock()
		}
	}()
	rc := startEventStream(w)
	tick := time.NewTicker(s.heartbeatIdle)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if !keepAlives {
				continue
			}
			if _, err := io.WriteString(w, ": heartbeat\n\n"); err != nil {
				return true
			}
			if err := rc.Flush(); err != nil {
				return true
			}
		case <-r.Context().Done():
			return true
		case <-s.ctx.Done():
			return true
		}
	}
}
