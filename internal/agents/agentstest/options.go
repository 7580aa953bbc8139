package agentstest

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

// WithAPIKey sets the only accepted X-Api-Key (default "test-key").
func WithAPIKey(key string) Option { return serverOption(func(s *Server) { s.apiKey = key }) }

// WithWebhooks turns delivery of the `webhook` run kwarg on or off (default
// on). When off the field is accepted and ignored.
func WithWebhooks(on bool) Option { return serverOption(func(s *Server) { s.webhooks = on }) }

// WithoutApprovalMiddleware plays a graph without human-in-the-loop
// middleware, the kind operators point headless channels at on an Agent
// Server: memory writes and other reviewed calls run at once.
func WithoutApprovalMiddleware() StyleOption { return func(a *agentStyle) { a.noHITL = true } }
