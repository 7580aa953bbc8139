package agentstest

// HoldCancels makes every POST …/runs/{run_id}/cancel from now on wait,
// before the server looks at the run, until release is closed: a cancel
// that reaches the runtime only after the run ended on its own. A client
// that leaves meanwhile cancels nothing. nil turns it off.
func (s *Server) HoldCancels(release <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdCancels = release
}

// CancelsFindNoRun makes every cancel from now on answer 404 run_not_found,
// as the runtime answers for a run it does not know (here: one it no longer
// keeps once ended), while the run itself goes on. false turns it off.
func (s *Server) CancelsFindNoRun(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelsFindNoRun = on
}
