package agentstest

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
