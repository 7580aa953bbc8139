package relay

// Metrics receives the relay's operational events.
type Metrics interface {
	RunStarted()
	RunFinished(outcome string) // "success", "error", "interrupted", "stopped"
	RunsInFlight(delta int)
	LeaseTakeover()
	// JobGaveUp counts a job ended without its answer: reason is
	// "permanent", "attempts" or "run_age"; told is where the user learnt
	// it: "thread", "ephemeral", "response_url" or "none".
	JobGaveUp(reason, told string)
	Approval(decision string)
	DuplicateDelivery(kind string)
	// Feedback counts a first verdict on an answer: score "good" or "bad";
	// langsmith "sent", "failed" or "not_sent" (no LangSmith runtime).
	Feedback(score, langsmith string)
	RunStopped()
	// DispatcherWoken counts the idle dispatcher woken by source:
	// WokenLocal, WokenListen or WokenPoll.
	DispatcherWoken(source string)
}

type nopMetrics struct{}

func (nopMetrics) RunStarted()              {}
func (nopMetrics) RunFinished(string)       {}
func (nopMetrics) RunsInFlight(int)         {}
func (nopMetrics) LeaseTakeover()           {}
func (nopMetrics) JobGaveUp(string, string) {}
func (nopMetrics) Approval(string)          {}
func (nopMetrics) DuplicateDelivery(string) {}
func (nopMetrics) Feedback(string, string)  {}
func (nopMetrics) RunStopped()              {}
func (nopMetrics) DispatcherWoken(string)   {}
