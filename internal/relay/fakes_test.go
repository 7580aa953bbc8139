package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// Small in-package fakes of the core's ports (ports.go), for unit tests
// that drive the relay without HTTP. The end-to-end suite in cmd/bot runs
// the real clients against full fakes of the services.

// fakeRuntime is an agent runtime whose runs are scripted: each StreamRun
// takes the next turn, a stream of events or an error.
type fakeRuntime struct {
	mu      sync.Mutex
	threads map[string]bool
	turns   []fakeTurn
	runs    []fakeRunCall
	cancels chan string // run ids: the core cancels off the ack path
}

type fakeTurn struct {
	events string // SSE text of the run's stream
	err    error  // or the error StreamRun answers
}

type fakeRunCall struct {
	threadID string
	req      agents.RunRequest
}

func newFakeRuntime(turns ...fakeTurn) *fakeRuntime {
	return &fakeRuntime{threads: map[string]bool{}, turns: turns, cancels: make(chan string, 8)}
}

// answerTurn is a run that answers text and ends.
func answerTurn(runID, text string) fakeTurn {
	values, _ := json.Marshal(map[string]any{"messages": []map[string]any{
		{"type": "human", "content": "question"},
		{"type": "ai", "content": text},
	}})
	return fakeTurn{events: sse("metadata", `{"run_id":"`+runID+`"}`) + sse("values", string(values)) + sse("end", "null")}
}

// interruptTurn is a run that stops to ask approval of one tool call.
func interruptTurn(runID, tool string, decisions ...string) fakeTurn {
	value := map[string]any{
		"action_requests": []map[string]any{{"name": tool, "args": map[string]any{"to": "ann@example.com"}}},
		"review_configs":  []map[string]any{{"action_name": tool, "allowed_decisions": decisions}},
	}
	values, _ := json.Marshal(map[string]any{"__interrupt__": []map[string]any{{"id": "int-1", "value": value}}})
	return fakeTurn{events: sse("metadata", `{"run_id":"`+runID+`"}`) + sse("values", string(values)) + sse("end", "null")}
}

func sse(event, data string) string { return "event: " + event + "\ndata: " + data + "\n\n" }

func (f *fakeRuntime) Dialect() agents.Dialect { return agents.AgentServer }

func (f *fakeRuntime) Capabilities() agents.Capabilities {
	return agents.Capabilities{JoinStream: agents.Yes, ThreadState: agents.Yes, Cancel: agents.Yes, ThreadIDOnCreate: agents.Yes}
}

func (f *fakeRuntime) CreateThread(_ context.Context, req *agents.CreateThreadRequest) (*agents.Thread, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.threads[req.ThreadID] = true
	return &agents.Thread{ThreadID: req.ThreadID, Status: agents.ThreadIdle}, nil
}

func (f *fakeRuntime) CreateThreadRun(context.Context, *agents.CreateRunRequest) (*agents.Run, error) {
	return nil, fmt.Errorf("fake runtime: CreateThreadRun not expected (threads are created with our id)")
}

func (f *fakeRuntime) StreamRun(_ context.Context, threadID string, req *agents.RunRequest) (*agents.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Runs belong to a thread: the Agent Server answers 404 for a thread
	// that was never created (agent-runtime-api.md, POST /threads/{id}/runs/stream).
	if !f.threads[threadID] {
		return nil, &agents.Error{StatusCode: http.StatusNotFound, Message: "thread not found"}
	}
	f.runs = append(f.runs, fakeRunCall{threadID: threadID, req: *req})
	if len(f.turns) == 0 {
		return nil, fmt.Errorf("fake runtime: no scripted turn left for run %d", len(f.runs))
	}
	turn := f.turns[0]
	f.turns = f.turns[1:]
	if turn.err != nil {
		return nil, turn.err
	}
	return agents.NewStream(io.NopCloser(strings.NewReader(turn.events)), ""), nil
}

func (f *fakeRuntime) JoinRunStream(context.Context, string, string, string) (*agents.Stream, error) {
	return nil, fmt.Errorf("fake runtime: every scripted stream ends, so no join is expected")
}

func (f *fakeRuntime) GetRun(_ context.Context, _, runID string) (*agents.Run, error) {
	return &agents.Run{RunID: runID, Status: agents.RunSuccess}, nil
}

func (f *fakeRuntime) GetThread(_ context.Context, threadID string) (*agents.Thread, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.threads[threadID] {
		return nil, &agents.Error{StatusCode: http.StatusNotFound, Message: "thread not found"}
	}
	return &agents.Thread{ThreadID: threadID, Status: agents.ThreadIdle}, nil
}

func (f *fakeRuntime) GetThreadState(context.Context, string) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

func (f *fakeRuntime) ListThreadRuns(context.Context, string, int) ([]agents.Run, error) {
	return nil, nil
}

func (f *fakeRuntime) CancelRun(_ context.Context, _, runID string) error {
	f.cancels <- runID
	return nil
}

func (f *fakeRuntime) ProbeCancel(context.Context, string) {}

func (f *fakeRuntime) runCalls() []fakeRunCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRunCall(nil), f.runs...)
}

// nextCancel waits for the next run cancel (the test's deadline bounds
// the wait).
func (f *fakeRuntime) nextCancel(t *testing.T) string {
	t.Helper()
	select {
	case id := <-f.cancels:
		return id
	case <-t.Context().Done():
		t.Fatal("no run cancelled")
	}
	return ""
}

// fakeSlack records what the core writes to Slack. Calls the core makes
// off the ack path arrive on channels, so a test waits for them without
// timing anything.
type fakeSlack struct {
	mu        sync.Mutex
	notIn     map[string]bool // channels the bot is not a member of
	posts     []fakePost
	lives     []*fakeLive
	nextTS    int
	ephemeral chan fakeEphemeral
	updates   chan fakePost
	reviews   chan string // card ids
}

type fakePost struct {
	channel, threadTS, ts string
	msg                   slackpost.Message
	card                  string // an approval card's id
	decidedBy             string // on a card's update: who decided
	decisions             []agents.Decision
}

type fakeEphemeral struct{ channel, user, text string }

func newFakeSlack() *fakeSlack {
	return &fakeSlack{
		notIn:     map[string]bool{},
		ephemeral: make(chan fakeEphemeral, 64),
		updates:   make(chan fakePost, 64),
		reviews:   make(chan string, 8),
	}
}

func (s *fakeSlack) tsLocked() string {
	s.nextTS++
	return fmt.Sprintf("1700000000.%06d", s.nextTS)
}

// Posting where the bot is not a member fails with not_in_channel
// (slack-platform.md, chat.postMessage errors).
func (s *fakeSlack) refuseLocked(channel string) error {
	if s.notIn[channel] {
		return slack.SlackErrorResponse{Err: "not_in_channel"}
	}
	return nil
}

func (s *fakeSlack) Post(_ context.Context, channel, threadTS string, m slackpost.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refuseLocked(channel); err != nil {
		return "", err
	}
	ts := s.tsLocked()
	s.posts = append(s.posts, fakePost{channel: channel, threadTS: threadTS, ts: ts, msg: m})
	return ts, nil
}

func (s *fakeSlack) Update(_ context.Context, channel, ts string, m slackpost.Message) error {
	s.updates <- fakePost{channel: channel, ts: ts, msg: m}
	return nil
}

func (s *fakeSlack) Ephemeral(_ context.Context, channel, user, text string) error {
	s.ephemeral <- fakeEphemeral{channel: channel, user: user, text: text}
	return nil
}

func (s *fakeSlack) Respond(_ context.Context, responseURL, text string) error {
	s.ephemeral <- fakeEphemeral{channel: responseURL, text: text}
	return nil
}

func (s *fakeSlack) React(context.Context, string, string, string) error   { return nil }
func (s *fakeSlack) Unreact(context.Context, string, string, string) error { return nil }
func (s *fakeSlack) SetAssistantTitle(context.Context, string, string, string) error {
	return nil
}

func (s *fakeSlack) SetSuggestedPrompts(context.Context, string, string, string, []slackpost.Prompt) error {
	return nil
}

func (s *fakeSlack) PostPrompt(ctx context.Context, channel, who, echo string) (string, error) {
	return s.Post(ctx, channel, "", slackpost.Message{Text: who + " " + echo})
}

func (s *fakeSlack) PostApprovalCard(ctx context.Context, channel, threadTS string, card slackbot.Card, ic agents.Interrupt) (string, error) {
	ts, err := s.Post(ctx, channel, threadTS, slackpost.Message{Text: "Approval needed: " + slackpost.DescribeActions(ic)})
	if err == nil {
		s.mu.Lock()
		s.posts[len(s.posts)-1].card = card.ID
		s.mu.Unlock()
	}
	return ts, err
}

func (s *fakeSlack) ShowDecision(_ context.Context, channel, ts string, card slackbot.Card, _ agents.Interrupt, decisions []agents.Decision) error {
	s.updates <- fakePost{channel: channel, ts: ts, card: card.ID, decidedBy: card.DecidedBy, decisions: decisions}
	return nil
}

func (s *fakeSlack) OpenReview(_ context.Context, _ string, card slackbot.Card, _ agents.Interrupt) error {
	s.reviews <- card.ID
	return nil
}

func (s *fakeSlack) NewLive(channel, threadTS string, o slackpost.LiveOptions) LiveReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &fakeLive{slack: s, channel: channel, threadTS: threadTS, ts: o.ExistingTS}
	s.lives = append(s.lives, l)
	return l
}

func (s *fakeSlack) ThreadReplies(context.Context, string, string) ([]slackpost.ThreadMessage, error) {
	return nil, nil
}

func (s *fakeSlack) Download(context.Context, slackpost.File, int64) ([]byte, error) {
	return nil, fmt.Errorf("fake slack: no files")
}

func (s *fakeSlack) PrepareUpload(context.Context, string, []byte) (slackpost.Upload, error) {
	return slackpost.Upload{}, fmt.Errorf("fake slack: no uploads")
}

func (s *fakeSlack) Share(context.Context, string, string, string, []slackpost.Upload) error {
	return fmt.Errorf("fake slack: no uploads")
}

func (s *fakeSlack) postsIn(channel string) []fakePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakePost
	for _, p := range s.posts {
		if p.channel == channel {
			out = append(out, p)
		}
	}
	return out
}

func (s *fakeSlack) liveReplies() []*fakeLive {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*fakeLive(nil), s.lives...)
}

// nextEphemeral waits for the next ephemeral message (the test's deadline
// bounds the wait).
func (s *fakeSlack) nextEphemeral(t *testing.T) fakeEphemeral {
	t.Helper()
	select {
	case e := <-s.ephemeral:
		return e
	case <-t.Context().Done():
		t.Fatal("no ephemeral message")
	}
	return fakeEphemeral{}
}

func (s *fakeSlack) nextUpdate(t *testing.T) fakePost {
	t.Helper()
	select {
	case u := <-s.updates:
		return u
	case <-t.Context().Done():
		t.Fatal("no message update")
	}
	return fakePost{}
}

// fakeLive is one live reply: what it showed last and how it ended.
type fakeLive struct {
	slack             *fakeSlack
	channel, threadTS string
	mu                sync.Mutex
	ts                string
	progress          []slackpost.Progress
	final             string // Finish's markdown
	failed            string // Fail's note
	closed            bool
}

func (l *fakeLive) Start(context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ts != "" {
		return l.ts, nil
	}
	l.slack.mu.Lock()
	defer l.slack.mu.Unlock()
	if err := l.slack.refuseLocked(l.channel); err != nil {
		return "", err
	}
	l.ts = l.slack.tsLocked()
	return l.ts, nil
}

func (l *fakeLive) Update(pr slackpost.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.progress = append(l.progress, pr)
}

func (l *fakeLive) Finish(_ context.Context, finalMarkdown string, from int, saved func(int) error) error {
	l.mu.Lock()
	l.final = finalMarkdown
	l.mu.Unlock()
	return saved(from + 1)
}

func (l *fakeLive) Fail(_ context.Context, note string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = note
	return nil
}

func (l *fakeLive) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

func (l *fakeLive) ended() (final, failed string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.final, l.failed
}

// fakeClock is a clock that only moves when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
