package relay

// Metrics receives the relay's operational events.
type Metrics interface {
	RunStarted()
	RunFinished(outcome string) // "success", "error", "interrupted"
	RunsInFlight(delta int)
	LeaseTakeover()
	Approval(decision string)
	DuplicateDelivery(kind string)
}

type nopMetrics struct{}

func (nopMetrics) RunStarted()              {}
func (nopMetrics) RunFinished(string)       {}
func (nopMetrics) RunsInFlight(int)         {}
func (nopMetrics) LeaseTakeover()           {}
func (nopMetrics) Approval(string)          {}
func (nopMetrics) DuplicateDelivery(string) {}
