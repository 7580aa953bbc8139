package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/langsmith"
	"github.com/deepagents-slack/slackbot/internal/relay"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// env is the raw environment, read by envconfig. Every field is a string so
// that validation can report every problem at once instead of the first.
type env struct {
	SlackSigningSecret string `envconfig:"SLACK_SIGNING_SECRET" desc:"Slack app signing secret (required over HTTP, secret)"`
	SlackAppToken      string `envconfig:"SLACK_APP_TOKEN" desc:"app-level token xapp-… (secret): Slack's requests arrive over Socket Mode instead of HTTP"`
	SlackBotToken      string `envconfig:"SLACK_BOT_TOKEN" desc:"Slack bot token xoxb-… (required, secret)"`
	SlackAPIURL        string `envconfig:"SLACK_API_URL" default:"https://slack.com/api/" desc:"Slack Web API base URL (GovSlack or a test server)"`
	LangsmithAPIKey    string `envconfig:"LANGSMITH_API_KEY" desc:"LangSmith API key sent as X-Api-Key (required for managed, secret)"`
	DeepagentsBaseURL  string `envconfig:"DEEPAGENTS_BASE_URL" default:"https://api.smith.langchain.com/v1/deepagents" desc:"Managed Deep Agents API base URL, or the Agent Server deployment URL"`
	LangsmithEndpoint  string `envconfig:"LANGSMITH_ENDPOINT" desc:"LangSmith API that receives users' 👍/👎 as run feedback (default: derived from a LangSmith-hosted DEEPAGENTS_BASE_URL; off to send none)"`
	AgentRuntime       string `envconfig:"AGENT_RUNTIME" default:"managed" desc:"managed (Managed Deep Agents API) or agent-server (a LangGraph Agent Server deployment)"`
	StreamSubgraphs    string `envconfig:"STREAM_SUBGRAPHS" default:"false" desc:"ask the runtime for subagents' own events (stream_subgraphs); some runtimes fail runs that ask"`
	AgentID            string `envconfig:"AGENT_ID" desc:"default agent for every channel: agent id (managed) or assistant id / graph name (agent-server) (required)"`
	ChannelAgents      string `envconfig:"CHANNEL_AGENTS" desc:"per-channel agents: C123:agent-id,C456:agent-id"`
	HeadlessChannels   string `envconfig:"HEADLESS_CHANNELS" desc:"channels whose new threads skip memory-write approval"`
	TestRunChannels    string `envconfig:"TEST_RUN_CHANNELS" desc:"channels whose new threads are test runs"`
	OpsUsers           string `envconfig:"OPS_USERS" desc:"user ids allowed to post /agent test runs (and to decide approvals)"`
	ApproverUsers      string `envconfig:"APPROVER_USERS" desc:"extra user ids allowed to decide approval cards"`
	AllowedChannels    string `envconfig:"ALLOWED_CHANNELS" desc:"optional channel allow-list (DMs are always allowed)"`
	Port               string `envconfig:"PORT" default:"8080" desc:"HTTP port"`
	DatabaseURL        string `envconfig:"DATABASE_URL" default:"deepagents-slack.db" desc:"SQLite file path, or postgres://… for several replicas"`
	SlashCommand       string `envconfig:"SLASH_COMMAND" default:"/agent" desc:"slash command name"`
	PublicURL          string `envconfig:"PUBLIC_URL" desc:"public https base URL; enables the run-completion webhook fallback"`
	Reactions          string `envconfig:"REACTIONS" default:"true" desc:"react to users' messages when picked up and answered"`
	Streaming          string `envconfig:"SLACK_STREAMING" default:"true" desc:"use Slack's chat.startStream for live replies where available"`
	SlackTierScale     string `envconfig:"SLACK_TIER_SCALE" default:"1" desc:"multiplies the Slack rate tiers the bot paces its writes at (a workspace granted more, or a test Slack); 0 paces nothing and only waits out 429s"`
	MaxFollowedRuns    string `envconfig:"MAX_FOLLOWED_RUNS" default:"20000" desc:"safety limit on runs one replica follows at once (a followed run costs a goroutine and a stream, not a worker)"`
	DeepagentsH2C      string `envconfig:"DEEPAGENTS_H2C" default:"false" desc:"speak cleartext HTTP/2 (h2c) to an http:// DEEPAGENTS_BASE_URL, so every run stream shares one connection (https:// negotiates HTTP/2 by itself)"`
	LogLevel           string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	ReplicaName        string `envconfig:"REPLICA_NAME" desc:"this replica's name in leases (default host-pid)"`
	LeaseTTL           string `envconfig:"LEASE_TTL" default:"30s" desc:"how long a replica's claim on a run lasts unrenewed; another replica takes over after it"`
	OpsAPIToken        string `envconfig:"OPS_API_TOKEN" desc:"bearer token for POST /ops/test-runs (secret, at least 16 characters); the route is off when unset"`
	Retention          string `envconfig:"RETENTION" default:"720h" desc:"how long finished jobs, approval cards and handled Slack deliveries are kept (at least 1h)"`
	MetricsAddr        string `envconfig:"METRICS_ADDR" desc:"serve /metrics on this separate address (e.g. 127.0.0.1:9090) instead of the public port"`
	StreamIdleTimeout  string `envconfig:"STREAM_IDLE_TIMEOUT" default:"2m" desc:"silence (no event, no keep-alive) after which a run stream is dropped and rejoined"`
	OutputFiles        string `envconfig:"OUTPUT_FILES" default:"/outputs/" desc:"the agent's files under this folder are shared in the thread with the answer (at most 5, 5 MB each; never /memories/); off to share none"`
	MaxRunAge          string `envconfig:"MAX_RUN_AGE" default:"2h" desc:"how long a run is followed before the user is told and the bot moves on"`
	ThreadContextChars string `envconfig:"THREAD_CONTEXT_CHARS" default:"24000" desc:"characters of a thread's earlier messages a run starts with when the bot is mentioned mid-thread (oldest left out first)"`
	FileMaxBytes       string `envconfig:"FILE_MAX_BYTES" default:"5242880" desc:"largest file shared with a prompt that is passed to the agent (bytes)"`
	MessageFilesBytes  string `envconfig:"MESSAGE_FILES_MAX_BYTES" default:"10485760" desc:"all files of one message passed to the agent (bytes)"`
}

// Config is the validated configuration of the service.
type Config struct {
	SigningSecret string
	BotToken      string
	SlackAPIURL   string
	APIKey        string
	BaseURL       string
	// LangSmithURL is where feedback on runs is sent; "" sends none.
	LangSmithURL string
	// Runtime is the agent runtime's dialect (AGENT_RUNTIME).
	Runtime         agents.Dialect
	StreamSubgraphs bool
	Policy          relay.Policy
	Port            int
	DatabaseURL     string
	SlashCommand    string
	PublicURL       string
	Reactions       bool
	Streaming       bool
	// SlackTierScale multiplies the documented rate tiers the workspace's
	// write scheduler paces at; 0 paces nothing (429s are still absorbed).
	SlackTierScale  float64
	MaxFollowedRuns int
	// H2C speaks cleartext HTTP/2 to an http:// runtime.
	H2C bool
	// Deprecated names settings that are set but no longer used, for a
	// warning at start.
	Deprecated  []string
	LogLevel    string
	ReplicaName string
	LeaseTTL    time.Duration
	// AppToken (xapp-…) switches Slack's requests to Socket Mode.
	AppToken string
	// OpsAPIToken enables POST /ops/test-runs.
	OpsAPIToken string
	// Retention bounds how long finished work is kept.
	Retention time.Duration
	// MetricsAddr, when set, is where /metrics is served instead of the
	// public port.
	MetricsAddr       string
	StreamIdleTimeout time.Duration
	MaxRunAge         time.Duration
	// OutputPrefix is OUTPUT_FILES as a folder path ("" when off).
	OutputPrefix string
	// What a run's input may carry from Slack.
	ThreadContextChars int
	FileMaxBytes       int64
	MessageFilesBytes  int64

	// retryBase shortens the backoff between a job's attempts in tests.
	retryBase time.Duration
	// Fault tests: storeOptions skew the store's clock, wrapStore puts a
	// failing store in front of the real one, pollInterval shortens idle
	// workers' polling.
	storeOptions []threadmap.Option
	wrapStore    func(threadmap.Store) threadmap.Store
	pollInterval time.Duration

	// agentOptions tune the runtime client; tests shorten its backoff.
	agentOptions []agents.Option
	// socketAPIURL, when set, is where apps.connections.open is called
	// instead of SlackAPIURL: tests play Slack's Web API and its Socket
	// Mode with two fakes.
	socketAPIURL string
}

// SocketMode reports whether Slack's requests arrive over Socket Mode.
func (c Config) SocketMode() bool { return c.AppToken != "" }

// WebhookSecret keys the run-completion webhook tokens. It is derived from
// the signing secret so every replica agrees without another setting.
func (c Config) WebhookSecret() []byte {
	m := hmac.New(sha256.New, []byte(c.SigningSecret))
	m.Write([]byte("deepagents-slack/webhook-token"))
	return m.Sum(nil)
}

var (
	channelID = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	userID    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	agentID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	command   = regexp.MustCompile(`^/[a-z0-9_-]{1,31}$`)
)

// loadConfig reads and validates the environment. The error names every
// missing or malformed setting; it never contains a secret's value.
func loadConfig(getenv func(string) string) (Config, error) {
	raw := readEnv(getenv)
	p := &problems{}
	c := Config{
		SigningSecret: strings.TrimSpace(raw.SlackSigningSecret),
		BotToken:      p.required("SLACK_BOT_TOKEN", raw.SlackBotToken),
		APIKey:        strings.TrimSpace(raw.LangsmithAPIKey),
		DatabaseURL:   strings.TrimSpace(raw.DatabaseURL),
		SlashCommand:  strings.TrimSpace(raw.SlashCommand),
		LogLevel:      strings.ToLower(strings.TrimSpace(raw.LogLevel)),
		ReplicaName:   strings.TrimSpace(raw.ReplicaName),
		AppToken:      strings.TrimSpace(raw.SlackAppToken),
		OpsAPIToken:   strings.TrimSpace(raw.OpsAPIToken),
	}
	c.loadSlack(raw, p)
	c.loadRuntime(raw, p)
	c.loadPolicy(raw, p)
	c.loadWork(raw, p)
	c.loadOperations(raw, p)
	// WORKERS capped the runs followed at once; runs no longer need a
	// worker each. Ignoring it does not break a deployment that sets it,
	// but its operator should know it no longer limits anything.
	if getenv("WORKERS") != "" {
		c.Deprecated = append(c.Deprecated, "WORKERS is no longer used: a replica follows every run it leases (MAX_FOLLOWED_RUNS is only a safety limit)")
	}
	if len(p.list) > 0 {
		return Config{}, errors.New("invalid configuration:\n  - " + strings.Join(p.list, "\n  - "))
	}
	return c, nil
}

// problems collects every bad setting, so start-up names them all at once.
type problems struct{ list []string }

func (p *problems) bad(format string, a ...any) { p.list = append(p.list, fmt.Sprintf(format, a...)) }

// required returns v trimmed, noting name as missing when it is empty.
func (p *problems) required(name, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		p.bad("%s is required", name)
	}
	return v
}

// loadSlack checks how Slack reaches the bot (signed HTTP or Socket Mode)
// and the tokens and URL the bot calls Slack with.
func (c *Config) loadSlack(raw env, p *problems) {
	switch {
	case c.SocketMode():
		// Socket Mode needs no signing secret: the bot opens the connection.
		if !strings.HasPrefix(c.AppToken, "xapp-") {
			p.bad("SLACK_APP_TOKEN must be an app-level token (it starts with xapp-)")
		}
		if strings.TrimSpace(raw.PublicURL) != "" {
			p.bad("PUBLIC_URL must be unset with SLACK_APP_TOKEN: in Socket Mode the bot has no public URL, so the run-completion webhook is off")
		}
	case c.SigningSecret == "":
		p.bad("SLACK_SIGNING_SECRET is required")
	}
	if c.OpsAPIToken != "" && len(c.OpsAPIToken) < 16 {
		p.bad("OPS_API_TOKEN must be at least 16 characters (use a random secret)")
	}
	if c.BotToken != "" && !strings.HasPrefix(c.BotToken, "xoxb-") {
		p.bad("SLACK_BOT_TOKEN must be a bot token (it starts with xoxb-)")
	}
	c.SlackAPIURL = checkURL(p.bad, "SLACK_API_URL", raw.SlackAPIURL)
	if c.SlackAPIURL != "" && !strings.HasSuffix(c.SlackAPIURL, "/") {
		c.SlackAPIURL += "/" // slack-go appends method names to it
	}
}

// loadRuntime reads where the agent runtime is, what it is, and where
// outputs and feedback go.
func (c *Config) loadRuntime(raw env, p *problems) {
	c.BaseURL = strings.TrimRight(checkURL(p.bad, "DEEPAGENTS_BASE_URL", raw.DeepagentsBaseURL), "/")
	if d, err := agents.ParseDialect(raw.AgentRuntime); err != nil {
		p.bad("AGENT_RUNTIME %q must be managed or agent-server", raw.AgentRuntime)
	} else {
		c.Runtime = d
	}
	if c.APIKey == "" && c.Runtime == agents.Managed {
		p.bad("LANGSMITH_API_KEY is required")
	}
	switch out := strings.TrimSpace(raw.OutputFiles); {
	case strings.EqualFold(out, "off"), out == "":
	case !strings.HasPrefix(out, "/") || strings.Contains(out, ".."):
		p.bad("OUTPUT_FILES %q must be an absolute folder path such as /outputs/ (or off)", out)
	case strings.HasPrefix(strings.TrimSuffix(out, "/")+"/", "/memories/"):
		p.bad("OUTPUT_FILES %q must not be the agent's memories", out)
	default:
		c.OutputPrefix = strings.TrimSuffix(out, "/") + "/"
	}
	switch ep := strings.TrimSpace(raw.LangsmithEndpoint); {
	case strings.EqualFold(ep, "off"):
	case ep != "":
		c.LangSmithURL = strings.TrimRight(checkURL(p.bad, "LANGSMITH_ENDPOINT", ep), "/")
	default:
		c.LangSmithURL = langsmith.APIURLFor(c.BaseURL)
	}
	if c.APIKey == "" {
		c.LangSmithURL = "" // nothing to authenticate with
	}
	c.StreamSubgraphs = parseBool(p.bad, "STREAM_SUBGRAPHS", raw.StreamSubgraphs)
	if strings.TrimSpace(raw.PublicURL) != "" && !c.SocketMode() {
		c.PublicURL = strings.TrimRight(checkURL(p.bad, "PUBLIC_URL", raw.PublicURL), "/")
	}

}

// loadPolicy reads the per-channel policy: agents, headless and test-run
// channels, the allow-list and who may do what.
func (c *Config) loadPolicy(raw env, p *problems) {
	c.Policy.DefaultAgent = p.required("AGENT_ID", raw.AgentID)
	if c.Policy.DefaultAgent != "" && !agentID.MatchString(c.Policy.DefaultAgent) {
		p.bad("AGENT_ID %q is not a valid agent id", c.Policy.DefaultAgent)
	}
	c.Policy.ChannelAgents = parseChannelAgents(p.bad, raw.ChannelAgents)
	c.Policy.HeadlessChannels = parseIDs(p.bad, "HEADLESS_CHANNELS", raw.HeadlessChannels, channelID, "channel")
	c.Policy.TestRunChannels = parseIDs(p.bad, "TEST_RUN_CHANNELS", raw.TestRunChannels, channelID, "channel")
	c.Policy.AllowedChannels = parseIDs(p.bad, "ALLOWED_CHANNELS", raw.AllowedChannels, channelID, "channel")
	c.Policy.OpsUsers = parseIDs(p.bad, "OPS_USERS", raw.OpsUsers, userID, "user")
	c.Policy.ApproverUsers = parseIDs(p.bad, "APPROVER_USERS", raw.ApproverUsers, userID, "user")

}

// loadWork reads how the service serves and works: port, workers, leases,
// watchdogs, retention and what a run's input may carry.
func (c *Config) loadWork(raw env, p *problems) {
	if port, err := strconv.Atoi(strings.TrimSpace(raw.Port)); err != nil || port < 1 || port > 65535 {
		p.bad("PORT %q is not a port number (1-65535)", raw.Port)
	} else {
		c.Port = port
	}
	c.MaxFollowedRuns = int(parseInt(p.bad, "MAX_FOLLOWED_RUNS", raw.MaxFollowedRuns, 1, 1_000_000))
	c.H2C = parseBool(p.bad, "DEEPAGENTS_H2C", raw.DeepagentsH2C)
	if c.H2C && !strings.HasPrefix(c.BaseURL, "http://") {
		p.bad("DEEPAGENTS_H2C is for an http:// DEEPAGENTS_BASE_URL (https:// negotiates HTTP/2 by itself)")
	}
	// Renewals come every third of the TTL; below a second a slow store
	// round trip could lose a lease that is alive.
	if d, err := time.ParseDuration(strings.TrimSpace(raw.LeaseTTL)); err != nil || d < time.Second || d > time.Hour {
		p.bad("LEASE_TTL %q is not a duration between 1s and 1h (e.g. 30s)", raw.LeaseTTL)
	} else {
		c.LeaseTTL = d
	}
	c.Retention = parseDuration(p.bad, "RETENTION", raw.Retention, relay.MinRetention, 100*365*24*time.Hour,
		"a duration of at least 1h (e.g. 720h): handled Slack deliveries must outlive Slack's retries")
	c.StreamIdleTimeout = parseDuration(p.bad, "STREAM_IDLE_TIMEOUT", raw.StreamIdleTimeout, time.Second, 24*time.Hour,
		"a duration between 1s and 24h (e.g. 2m)")
	c.MaxRunAge = parseDuration(p.bad, "MAX_RUN_AGE", raw.MaxRunAge, time.Minute, 30*24*time.Hour,
		"a duration between 1m and 720h (e.g. 2h)")
	c.ThreadContextChars = int(parseInt(p.bad, "THREAD_CONTEXT_CHARS", raw.ThreadContextChars, 1000, 1_000_000))
	c.FileMaxBytes = parseInt(p.bad, "FILE_MAX_BYTES", raw.FileMaxBytes, 1<<10, 100<<20)
	c.MessageFilesBytes = parseInt(p.bad, "MESSAGE_FILES_MAX_BYTES", raw.MessageFilesBytes, 1<<10, 500<<20)
}

// loadOperations reads the operator's settings: metrics, reactions and
// streaming, the slash command, logging, the store and the replica name.
func (c *Config) loadOperations(raw env, p *problems) {
	if c.MetricsAddr = strings.TrimSpace(raw.MetricsAddr); c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			p.bad("METRICS_ADDR %q must be host:port (e.g. 127.0.0.1:9090 or :9090)", c.MetricsAddr)
		}
	}
	c.Reactions = parseBool(p.bad, "REACTIONS", raw.Reactions)
	c.Streaming = parseBool(p.bad, "SLACK_STREAMING", raw.Streaming)
	if f, err := strconv.ParseFloat(strings.TrimSpace(raw.SlackTierScale), 64); err != nil || f < 0 || f > 1000 || math.IsNaN(f) {
		p.bad("SLACK_TIER_SCALE %q must be a number between 0 and 1000", raw.SlackTierScale)
	} else {
		c.SlackTierScale = f
	}
	if !command.MatchString(c.SlashCommand) {
		p.bad("SLASH_COMMAND %q must look like /agent (lowercase, at most 32 characters)", c.SlashCommand)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.bad("LOG_LEVEL %q must be debug, info, warn or error", raw.LogLevel)
	}
	if c.DatabaseURL == "" {
		p.bad("DATABASE_URL must not be empty (leave it unset for the embedded SQLite file)")
	} else if err := threadmap.CheckDSN(c.DatabaseURL); err != nil {
		// The error masks the password; the value itself is never printed.
		p.bad("DATABASE_URL: %v", err)
	}
	if c.ReplicaName == "" {
		host, _ := os.Hostname()
		c.ReplicaName = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
}

// readEnv fills env from getenv using its envconfig tags and defaults.
// envconfig.Process only reads the process environment; going through
// getenv keeps run() testable without mutating global state.
func readEnv(getenv func(string) string) env {
	var e env
	v := reflect.ValueOf(&e).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		val := getenv(f.Tag.Get("envconfig"))
		if val == "" {
			val = f.Tag.Get("default")
		}
		v.Field(i).SetString(val)
	}
	return e
}

// printSettings writes the table of every setting, its default and meaning.
func printSettings(w io.Writer) error {
	return envconfig.Usagef("", &env{}, w, envconfig.DefaultTableFormat)
}

func checkURL(bad func(string, ...any), name, v string) string {
	v = strings.TrimSpace(v)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("%s %q is not an http(s) URL", name, v)
		return ""
	}
	return v
}

// parseDuration reads a duration between lo and hi; want describes it.
func parseDuration(bad func(string, ...any), name, v string, lo, hi time.Duration, want string) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < lo || d > hi {
		bad("%s %q is not %s", name, v, want)
		return 0
	}
	return d
}

// parseInt reads a whole number between lo and hi.
func parseInt(bad func(string, ...any), name, v string, lo, hi int64) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < lo || n > hi {
		bad("%s %q is not a whole number between %d and %d", name, v, lo, hi)
		return 0
	}
	return n
}

func parseBool(bad func(string, ...any), name, v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		bad("%s %q must be true or false", name, v)
	}
	return b
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseIDs(bad func(string, ...any), name, v string, re *regexp.Regexp, kind string) map[string]bool {
	ids := map[string]bool{}
	for _, id := range splitList(v) {
		if !re.MatchString(id) {
			bad("%s entry %q is not a Slack %s id", name, id, kind)
			continue
		}
		ids[id] = true
	}
	return ids
}

// parseChannelAgents reads "C123:agent-uuid,C456:agent-uuid".
func parseChannelAgents(bad func(string, ...any), v string) map[string]string {
	m := map[string]string{}
	for _, entry := range splitList(v) {
		ch, agent, ok := strings.Cut(entry, ":")
		switch {
		case !ok || agent == "":
			bad("CHANNEL_AGENTS entry %q must be <channel id>:<agent id>", entry)
		case !channelID.MatchString(ch):
			bad("CHANNEL_AGENTS entry %q: %q is not a Slack channel id", entry, ch)
		case !agentID.MatchString(agent):
			bad("CHANNEL_AGENTS entry %q: %q is not a valid agent id", entry, agent)
		case m[ch] != "":
			bad("CHANNEL_AGENTS names channel %s twice", ch)
		default:
			m[ch] = agent
		}
	}
	return m
}
