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
