// Package slackfake is an in-process fake of the Slack Web API for tests and demos.
//
// It serves the methods this bot uses (chat.*, streaming, reactions, assistant threads,
// views.open, conversations.info, auth.test) over an httptest server, validates requests
// the way Slack does (channel formats, required content, Block Kit limits, stream state),
// keeps the resulting channel state (messages, threads, edits, streams, reactions) and
// records every call. Point a real slack-go client at it:
//
//	fake := slackfake.New()
//	defer fake.Close()
//	api := slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
//
// slack-go sends chat.*, reactions.*, assistant.* and conversations.* form-encoded with a
// "token" field, and views.* as JSON with an Authorization header; response_url posts
// are JSON without a token. The fake accepts both encodings everywhere.
package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	token        string
	userID       string
	botID        string
	teamID       string
	streaming    bool
	streamExpiry int     // appends a stream survives; negative means streams never expire
	tierScale    float64 // multiplies the rate tiers' allowances; 0 turns them off
	statusTTL    time.Duration
	// missingScopes are scopes the app was installed without (WithoutScope).
	missingScopes map[string]bool
	// workspaces are the other installations: bot token -> team id.
	workspaces map[string]string
}

// assistantStatus is a thread's AI-app status and when it was set.
type assistantStatus struct {
	status  string
	loading []string
	at      time.Time
}

// WithBotToken sets the only token the fake accepts (default "xoxb-test").
// Any other token answers invalid_auth; no token answers not_authed.
func WithBotToken(tok string) Option { return func(c *config) { c.token = tok } }

// WithBotUser sets the identity auth.test reports and that bot posts carry
// (defaults "UBOT00001", "BBOT00001", "TTEAM0001").
func WithBotUser(userID, botID, teamID string) Option {
	return func(c *config) { c.userID, c.botID, c.teamID = userID, botID, teamID }
}

// WithoutStreaming makes chat.startStream/appendStream/stopStream answer unknown_method,
// as a workspace without the streaming API does.
func WithoutStreaming() Option { return func(c *config) { c.streaming = false } }

// WithStreamExpiry makes every stream stop accepting writes after n successful appends:
// the next append or stop answers message_not_in_streaming_state, as Slack does when a
// stream outlives its server-side timeout. n = 0 expires streams right after start.
func WithStreamExpiry(n int) Option { return func(c *config) { c.streamExpiry = n } }

// WithRateTiers scales Slack's per-method rate tiers (see tiers.go): scale 2
// allows twice as many calls as Slack, 0 turns tier enforcement off. The
// default is 1, Slack's documented allowances. Tests that deliberately post
// far faster than Slack allows (load benchmarks) turn it off or scale it.
func WithRateTiers(scale float64) Option { return func(c *config) { c.tierScale = max(scale, 0) } }

// WithStatusExpiry sets how long an AI-app status lasts without a message
// from the app (Slack: "A two minute timeout applies",
// docs.slack.dev/reference/methods/assistant.threads.setStatus).
func WithStatusExpiry(d time.Duration) Option { return func(c *config) { c.statusTTL = d } }

// WithWorkspace installs the app in another workspace too: token is its
// bot token and teamID its id. Its calls share the channels but not the
// rate limits: Slack applies rate limits per app per workspace
// (docs.slack.dev/apis/web-api/rate-limits), so each workspace has its own
// tiers.
func WithWorkspace(token, teamID string) Option {
	return func(c *config) {
		if c.workspaces == nil {
			c.workspaces = map[string]string{}
		}
		c.workspaces[token] = teamID
	}
}

// WithoutRateTiers turns tier enforcement off (WithRateTiers(0)).
func WithoutRateTiers() Option { return WithRateTiers(0) }

// Server is a fake Slack Web API. All methods are safe for concurrent use.
type Server struct {
	cfg  config
	http *httptest.Server
	base int64 // unix seconds that generated ts values start from

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change (see WaitFor)
	seq        int64
	calls      []Call
	channels   map[string]*channelState
	notIn      map[string]bool
	archived   map[string]bool
	rateLimits map[string]*rateLimit
	buckets    map[string]*bucket // rate tier state per workspace and method (and channel)
	failures   map[string][]string
	ephemerals []Ephemeral
	responses  map[string]responseTarget
	statuses   map[threadKey]assistantStatus
	titles     map[threadKey]string
	names      map[string]string
	views      int
	opened     []View
	broadcasts []string     // "method: token" for every live broadcast Slack would have sent
	uploads    *uploadState // see files.go
	files      map[string]*storedFile
	downloads  int
}

type rateLimit struct {
	remaining  int
	retryAfter int
}

type threadKey struct{ channel, ts string }

type responseTarget struct{ channel, user string }

// New starts a fake Slack server. Close it when done.
func New(opts ...Option) *Server {
	cfg := config{
		token:        "xoxb-test",
		userID:       "UBOT00001",
		botID:        "BBOT00001",
		teamID:       "TTEAM0001",
		streaming:    true,
		streamExpiry: -1,
		tierScale:    1,
		statusTTL:    2 * time.Minute,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:        cfg,
		base:       time.Now().Unix(),
		changed:    make(chan struct{}),
		channels:   map[string]*channelState{},
		notIn:      map[string]bool{},
		archived:   map[string]bool{},
		rateLimits: map[string]*rateLimit{},
		buckets:    map[string]*bucket{},
		failures:   map[string][]string{},
		responses:  map[string]responseTarget{},
		statuses:   map[threadKey]assistantStatus{},
		titles:     map[threadKey]string{},
		names:      map[string]string{},
		files:      map[string]*storedFile{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.handleAPI)
	mux.HandleFunc("POST /response/{id}", s.handleResponseURL)
	mux.HandleFunc("POST /upload/{id}", s.handleUpload)
	mux.HandleFunc("GET /files-pri/{file}/download/{name}", s.handleFileDownload)
	mux.HandleFunc("GET /files-pri/{file}/{name}", s.handleFileDownload)
	s.http = httptest.NewServer(mux)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// APIURL is the base URL for slack.OptionAPIURL; it ends with "/" as slack-go requires.
func (s *Server) APIURL() string { return s.http.URL + "/api/" }

// ResponseURL returns a response_url on the fake; posts to it are recorded as
// ephemeral responses (see Ephemerals) with ResponseID id.
func (s *Server) ResponseURL(id string) string { return s.http.URL + "/response/" + id }

// ResponseURLFor is ResponseURL for a command run by user in channel: the recorded
// Ephemerals carry that channel and user, as Slack shows them to that user there.
func (s *Server) ResponseURLFor(id, channel, user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responses[id] = responseTarget{channel: channel, user: user}
	return s.ResponseURL(id)
}

// TierScale is the scale of the rate tiers the fake enforces (0: none);
// a bot under test paces its writes alike.
func (s *Server) TierScale() float64 { return s.cfg.tierScale }

// BotUserID is the bot's user id (as reported by auth.test).
func (s *Server) BotUserID() string { return s.cfg.userID }

// TeamID is the workspace id (as reported by auth.test).
func (s *Server) TeamID() string { return s.cfg.teamID }

// NotInChannel makes writes to channel answer not_in_channel until JoinChannel.
func (s *Server) NotInChannel(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notIn[channel] = true
}

// JoinChannel undoes NotInChannel, as if a user invited the bot.
func (s *Server) JoinChannel(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.notIn, channel)
}

// Archived makes writes to channel answer is_archived.
func (s *Server) Archived(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archived[channel] = true
}

// RateLimit makes the next n calls of method answer HTTP 429 with a Retry-After of
// retryAfterSeconds (at least 1); those calls change nothing. Method "response_url" limits
// response_url posts.
func (s *Server) RateLimit(method string, n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[method] = &rateLimit{remaining: n, retryAfter: retryAfterSeconds}
}

// FailNext makes the next call of method answer ok:false with slackError and change
// nothing. Calls queue: FailNext twice fails the next two calls.
func (s *Server) FailNext(method, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], slackError)
}

// SetUserName gives a user (or the bot's user id) a display name for Transcript.
func (s *Server) SetUserName(userID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[userID] = name
}

// WaitFor blocks until cond returns true or ctx ends. cond is evaluated once at the
// start and again after every call the fake handles or state change, so tests can wait
// for asynchronous posts without sleeping. cond may call any Server accessor.
func (s *Server) WaitFor(ctx context.Context, cond func(*Server) bool) error {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("slackfake: waiting for condition: %w", ctx.Err())
		case <-changed:
		}
	}
}

// notify wakes WaitFor callers. Callers hold s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// newTS returns a Slack-shaped timestamp ("1700000000.000100"), unique and increasing.
// Callers hold s.mu.
func (s *Server) newTS() string {
	s.seq++
	micros := s.base*1_000_000 + s.seq*100
	return fmt.Sprintf("%d.%06d", micros/1_000_000, micros%1_000_000)
}

// result is what one method call answers.
type result struct {
	err        string         // Slack error code; empty means ok
	fields     map[string]any // extra top-level fields of an ok answer
	warning    string
	messages   []string // response_metadata.messages, Slack's detail for invalid_* errors
	retryAfter int      // > 0: answer HTTP 429
}

func ok(fields map[string]any) result { return result{fields: fields} }

func fail(code string, messages ...string) result { return result{err: code, messages: messages} }

func (r result) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(r.retryAfter))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
		return
	}
	body := map[string]any{"ok": r.err == ""}
	for k, v := range r.fields {
		body[k] = v
	}
	meta := map[string]any{}
	if r.err != "" {
		body["error"] = r.err
		if len(r.messages) > 0 {
			meta["messages"] = r.messages
		}
		if r.err == "invalid_blocks" {
			// Slack lists the problems both here and in response_metadata.
			body["errors"] = r.messages
		}
	}
	if r.warning != "" {
		body["warning"] = r.warning
		meta["warnings"] = []string{r.warning}
	}
	if len(meta) > 0 {
		body["response_metadata"] = meta
	}
	_ = json.NewEncoder(w).Encode(body)
}

type handler func(s *Server, p params) result

var handlers = map[string]handler{
	"auth.test":                             (*Server).authTest,
	"chat.postMessage":                      (*Server).postMessage,
	"chat.update":                           (*Server).update,
	"chat.postEphemeral":                    (*Server).postEphemeral,
	"chat.delete":                           (*Server).deleteMessage,
	"chat.startStream":                      (*Server).startStream,
	"chat.appendStream":                     (*Server).appendStream,
	"chat.stopStream":                       (*Server).stopStream,
	"reactions.add":                         (*Server).addReaction,
	"reactions.remove":                      (*Server).removeReaction,
	"conversations.info":                    (*Server).conversationInfo,
	"conversations.replies":                 (*Server).replies,
	"views.open":                            (*Server).openView,
	"assistant.threads.setStatus":           (*Server).setStatus,
	"assistant.threads.setSuggestedPrompts": (*Server).setSuggestedPrompts,
	"assistant.threads.setTitle":            (*Server).setTitle,
	"files.getUploadURLExternal":            (*Server).getUploadURLExternal,
	"files.completeUploadExternal":          (*Server).completeUploadExternal,
}

var streamMethods = map[string]bool{
	"chat.startStream":  true,
	"chat.appendStream": true,
	"chat.stopStream":   true,
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	p, token, err := readParams(r)
	if err != nil {
		s.mu.Lock()
		res := fail("invalid_form_data", err.Error())
		s.record(method, p, res, nil)
		s.mu.Unlock()
		res.write(w)
		return
	}
	broadcasts := broadcastsIn(method, p)
	s.mu.Lock()
	res := s.serve(method, p, token)
	s.record(method, p, res, broadcasts)
	s.mu.Unlock()
	res.write(w)
}

// serve answers one Web API call. Callers hold s.mu.
func (s *Server) serve(method string, p params, token string) result {
	if res, limited := s.takeRateLimit(method); limited {
		return res
	}
	team := s.cfg.teamID
	switch other, installed := s.cfg.workspaces[token]; {
	case token == "":
		return fail("not_authed")
	case token == s.cfg.token:
	case installed:
		team = other
	default:
		return fail("invalid_auth")
	}
	if res, limited := s.takeTier(team, method, p, time.Now()); limited {
		return res
	}
	if code, failed := s.takeFailure(method); failed {
		return fail(code)
	}
	h, known := handlers[method]
	if !known || (streamMethods[method] && !s.cfg.streaming) {
		return fail("unknown_method")
	}
	res := h(s, p)
	if method == "auth.test" && res.err == "" {
		res.fields["team_id"] = team // the workspace of the token
	}
	return res
}

func (s *Server) takeRateLimit(method string) (result, bool) {
	rl := s.rateLimits[method]
	if rl == nil || rl.remaining <= 0 {
		return result{}, false
	}
	rl.remaining--
	return result{err: "ratelimited", retryAfter: max(rl.retryAfter, 1)}, true
}

func (s *Server) takeFailure(method string) (string, bool) {
	queue := s.failures[method]
	if len(queue) == 0 {
		return "", false
	}
	s.failures[method] = queue[1:]
	return queue[0], true
}

// record appends a Call and wakes waiters. Callers hold s.mu; they find
// the call's broadcasts (broadcastsIn) before taking it, as that decodes JSON.
func (s *Server) record(method string, p params, res result, broadcasts []string) {
	if res.err == "" {
		s.broadcasts = append(s.broadcasts, broadcasts...)
	}
	s.calls = append(s.calls, Call{
		Method: method,
		Params: p,
		At:     time.Now(),
		OK:     res.err == "",
		Error:  res.err,
	})
	s.notify()
}

func (s *Server) authTest(params) result {
	return ok(map[string]any{
		"url":     "https://fake-workspace.slack.com/",
		"team":    "Fake Workspace",
		"user":    "bot",
		"team_id": s.cfg.teamID,
		"user_id": s.cfg.userID,
		"bot_id":  s.cfg.botID,
	})
}
