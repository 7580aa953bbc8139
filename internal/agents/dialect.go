package agents

import (
	"fmt"
	"strings"
	"sync"
)

// Dialect is the flavour of run API a Client speaks.
type Dialect int

const (
	// Managed is the LangSmith Managed Deep Agents API (…/v1/deepagents):
	// runs name the agent with agent_id, threads carry options, errors are
	// ErrorResponse bodies.
	Managed Dialect = iota
	// AgentServer is a LangGraph Agent Server deployment: runs name the
	// assistant (or graph) with assistant_id, threads have no options, errors
	// are {"detail": …}.
	AgentServer
)

// String is the dialect's AGENT_RUNTIME name.
func (d Dialect) String() string {
	if d == AgentServer {
		return "agent-server"
	}
	return "managed"
}

// ParseDialect reads an AGENT_RUNTIME value: "managed" or "agent-server".
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "managed":
		return Managed, nil
	case "agent-server", "agent_server", "agentserver":
		return AgentServer, nil
	}
	return Managed, fmt.Errorf("unknown runtime %q (want managed or agent-server)", s)
}

// WithDialect sets the dialect (default Managed).
func WithDialect(d Dialect) Option { return func(c *Client) { c.dialect = d } }

// Dialect returns the dialect the client speaks.
func (c *Client) Dialect() Dialect { return c.dialect }

// Support is what the client knows about one optional feature of the
// runtime it talks to.
type Support int

const (
	Unknown Support = iota // not tried yet
	Yes
	No
)

func (s Support) String() string {
	switch s {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "not known yet"
}

// Capabilities are the optional routes a runtime was found to expose. The
// Managed Deep Agents API "does not mirror every LangSmith Deployment
// endpoint" (docs.langchain.com/langsmith/managed-deep-agents-api-overview),
// so the client learns them on first use with ids that exist and remembers:
// a 404 or 405 then means the route is not there. A route once seen working
// is never marked missing again, so a 404 for a vanished thread later does
// not hide it.
type Capabilities struct {
	// JoinStream: GET /threads/{id}/runs/{run_id}/stream.
	JoinStream Support
	// ThreadState: GET /threads/{id}/state (or values on GET /threads/{id}).
	ThreadState Support
	// Cancel: POST /threads/{id}/runs/{run_id}/cancel.
	Cancel Support
	// ThreadIDOnCreate: POST /threads creates the thread with the thread_id
	// we ask for (newer spec revisions), rather than refusing or ignoring it.
	ThreadIDOnCreate Support
}

// capabilities guards what the client learned.
type capabilities struct {
	mu sync.Mutex
	c  Capabilities
}

func (k *capabilities) get() Capabilities {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c
}

// learn records the result of using a feature: ok, or not exposed.
func (k *capabilities) learn(field func(*Capabilities) *Support, exposed bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := field(&k.c)
	switch {
	case exposed:
		*s = Yes
	case *s != Yes:
		*s = No
	}
}

// Capabilities returns what the client has learned about the runtime so far.
func (c *Client) Capabilities() Capabilities { return c.caps.get() }

func joinField(c *Capabilities) *Support     { return &c.JoinStream }
func stateField(c *Capabilities) *Support    { return &c.ThreadState }
func threadIDField(c *Capabilities) *Support { return &c.ThreadIDOnCreate }
func cancelField(c *Capabilities) *Support   { return &c.Cancel }

// CanCancel reports whether runs can be stopped through this runtime as far
// as the client knows: cancel worked before, or, not tried yet, the runtime
// is an Agent Server or a Managed API found to proxy the other Agent Server
// run routes. The documented Managed API lists no cancel route.
func (c Capabilities) CanCancel() bool {
	switch c.Cancel {
	case Yes:
		return true
	case No:
		return false
	}
	return c.JoinStream == Yes || c.ThreadState == Yes
}
