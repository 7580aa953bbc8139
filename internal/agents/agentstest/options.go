package agentstest

import "time"

// Option configures a Server.
type Option interface{ applyServer(*Server) }

// AgentOption configures one agent added with AddAgent.
type AgentOption interface{ applyAgent(*agentStyle) }

// StyleOption is an Option and an AgentOption: given to NewServer it is the
// default of every agent, given to AddAgent it applies to that agent only.
type StyleOption func(*agentStyle)

func (o StyleOption) applyServer(s *Server)    { o(&s.style) }
func (o StyleOption) applyAgent(a *agentStyle) { o(a) }

// agentStyle is how an agent's runtime shapes its output.
type agentStyle struct {
	camel      bool // TypeScript runtime: actionRequests, reviewConfigs, ...
	legacyArgs bool // older langchain: action_requests[].arguments
	noEnd      bool // streams stop without an `end` event
	noHITL     bool // a graph without approval middleware: reviewed calls just run
}

// CamelCaseInterrupts makes HITL requests camelCase (actionRequests,
// reviewConfigs, allowedDecisions, actionName), as TypeScript runtimes send.
func CamelCaseInterrupts() StyleOption { return func(a *agentStyle) { a.camel = true } }

// LegacyArguments names an action request's arguments `arguments` instead of
// `args`, as older langchain releases did.
func LegacyArguments() StyleOption { return func(a *agentStyle) { a.legacyArgs = true } }

// NoEndEvent ends run streams without the final `end` event, so clients can
// be tested on end-of-stream alone.
func NoEndEvent() StyleOption { return func(a *agentStyle) { a.noEnd = true } }

type serverOption func(*Server)

func (o serverOption) applyServer(s *Server) { o(s) }

// WithH2C makes the server speak cleartext HTTP/2 (h2c, prior knowledge)
// besides HTTP/1.1, as a runtime behind a proxy that terminates TLS may:
// clients that know it multiplex every stream on one connection.
func WithH2C() Option { return serverOption(func(s *Server) { s.h2c = true }) }

// WithHeartbeatInterval sets how long an idle run stream waits between
// heartbeat comments (default 200 ms, so tests see them quickly). Load
// benchmarks holding thousands of streams open use a runtime-like pace.
func WithHeartbeatInterval(d time.Duration) Option {
	return serverOption(func(s *Server) {
		if d > 0 {
			s.heartbeatIdle = d
		}
	})
}

// WithAPIKey sets the only accepted X-Api-Key (default "test-key").
func WithAPIKey(key string) Option { return serverOption(func(s *Server) { s.apiKey = key }) }

// WithWebhooks turns delivery of the `webhook` run kwarg on or off (default
// on). When off the field is accepted and ignored.
func WithWebhooks(on bool) Option { return serverOption(func(s *Server) { s.webhooks = on }) }

// WithoutApprovalMiddleware plays a graph without human-in-the-loop
// middleware, the kind operators point headless channels at on an Agent
// Server: memory writes and other reviewed calls run at once.
func WithoutApprovalMiddleware() StyleOption { return func(a *agentStyle) { a.noHITL = true } }
