package relay

import (
	"context"
	"encoding/json"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/langsmith"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// The core's dependencies, declared here with only the methods it calls:
// cmd/bot wires the real ones (*agents.Client, *slackpost.Poster,
// *langsmith.Client, a threadmap store and, for PostgreSQL, its
// JobListener) and the unit tests small fakes.

// Runtime is the agent runtime. Its requests and answers are package
// agents' types: they are the runtime's own language.
type Runtime interface {
	Dialect() agents.Dialect
	Capabilities() agents.Capabilities
	CreateThread(ctx context.Context, req *agents.CreateThreadRequest) (*agents.Thread, error)
	CreateThreadRun(ctx context.Context, req *agents.CreateRunRequest) (*agents.Run, error)
	StreamRun(ctx context.Context, threadID string, req *agents.RunRequest) (*agents.Stream, error)
	JoinRunStream(ctx context.Context, threadID, runID, lastEventID string) (*agents.Stream, error)
	GetRun(ctx context.Context, threadID, runID string) (*agents.Run, error)
	GetThread(ctx context.Context, threadID string) (*agents.Thread, error)
	GetThreadState(ctx context.Context, threadID string) (json.RawMessage, error)
	ListThreadRuns(ctx context.Context, threadID string, limit int) ([]agents.Run, error)
	CancelRun(ctx context.Context, threadID, runID string) error
	// ProbeCancel learns, once, whether the runtime can cancel runs.
	ProbeCancel(ctx context.Context, threadID string)
}

var _ Runtime = (*agents.Client)(nil)

// Slack writes to (and reads the bits the core needs from) Slack.
type Slack interface {
	Post(ctx context.Context, channel, threadTS string, m slackpost.Message) (string, error)
	Update(ctx context.Context, channel, ts string, m slackpost.Message) error
	Ephemeral(ctx context.Context, channel, user, text string) error
	// Respond answers through a slash command's response_url.
	Respond(ctx context.Context, responseURL, text string) error
	React(ctx context.Context, channel, ts, name string) error
	Unreact(ctx context.Context, channel, ts, name string) error
	SetAssistantTitle(ctx context.Context, channel, threadTS, title string) error
	SetSuggestedPrompts(ctx context.Context, channel, threadTS, title string, prompts []slackpost.Prompt) error
	// PostPrompt posts the channel message a conversation hangs off: who
	// asked (mrkdwn) and their prompt (Slack text) quoted.
	PostPrompt(ctx context.Context, channel, who, echo string) (string, error)
	// PostApprovalCard posts the approval card of an interrupted run and
	// returns its ts; ShowDecision shows the decision on it; OpenReview
	// opens the modal that decides each request on its own.
	PostApprovalCard(ctx context.Context, channel, threadTS string, card slackbot.Card, ic agents.Interrupt) (string, error)
	ShowDecision(ctx context.Context, channel, ts string, card slackbot.Card, ic agents.Interrupt, decisions []agents.Decision) error
	OpenReview(ctx context.Context, triggerID string, card slackbot.Card, ic agents.Interrupt) error
	// NewLive makes the live reply a run's progress and answer go to.
	NewLive(channel, threadTS string, o slackpost.LiveOptions) LiveReply
	ThreadReplies(ctx context.Context, channel, threadTS string) ([]slackpost.ThreadMessage, error)
	Download(ctx context.Context, f slackpost.File, limit int64) ([]byte, error)
	PrepareUpload(ctx context.Context, name string, content []byte) (slackpost.Upload, error)
	Share(ctx context.Context, channel, threadTS, comment string, uploads []slackpost.Upload) error
}

// LiveReply is the bot's reply in a thread while a run works: progress
// first, then the answer or a failure note. *slackpost.Live is one.
type LiveReply interface {
	// Start posts (or adopts) the reply and returns its ts.
	Start(ctx context.Context) (string, error)
	Update(pr slackpost.Progress)
	Finish(ctx context.Context, finalMarkdown string, from int, saved func(delivered int) error) error
	Fail(ctx context.Context, note string) error
	Close()
}

var _ LiveReply = (*slackpost.Live)(nil)

// PosterSlack adapts a *slackpost.Poster to Slack (its NewLive returns the
// concrete *slackpost.Live).
type PosterSlack struct{ *slackpost.Poster }

// NewLive makes a live reply; see slackpost.Poster.NewLive.
func (p PosterSlack) NewLive(channel, threadTS string, o slackpost.LiveOptions) LiveReply {
	return p.Poster.NewLive(channel, threadTS, o)
}

var _ Slack = PosterSlack{}

var _ FeedbackSink = (*langsmith.Client)(nil)

// FeedbackSink receives users' 👍/👎 on answers (LangSmith).
type FeedbackSink interface {
	CreateFeedback(ctx context.Context, f langsmith.Feedback) error
}

// Store is the durable ledger: conversations, handled deliveries, jobs,
// approval cards, feedback and stops. Every threadmap store is one.
type Store interface {
	Conversation(ctx context.Context, k slackbot.Key) (slackbot.Conversation, error)
	ClaimDelivery(ctx context.Context, id string) (bool, error)
	AddJob(ctx context.Context, j slackbot.Job) (bool, error)
	Record(ctx context.Context, r slackbot.Record) (slackbot.Recorded, error)
	Job(ctx context.Context, id string) (slackbot.Job, error)
	UnfinishedJobs(ctx context.Context, threadID string) (int, error)
	LeaseNextJob(ctx context.Context, owner string, ttl time.Duration) (slackbot.Job, error)
	RenewLease(ctx context.Context, jobID, owner string, ttl time.Duration) error
	UpdateJob(ctx context.Context, j slackbot.Job) error
	ReleaseLease(ctx context.Context, jobID, owner string) error
	ResumeJob(ctx context.Context, jobID string, resume []byte) (bool, error)
	SaveCard(ctx context.Context, c slackbot.Card) error
	Card(ctx context.Context, id string) (slackbot.Card, error)
	DecideCard(ctx context.Context, id, by string, decision, resume []byte, at time.Time) (slackbot.Card, bool, error)
	RecordFeedback(ctx context.Context, f slackbot.Feedback) (bool, error)
	RecordStop(ctx context.Context, s slackbot.Stop) (slackbot.Stop, bool, error)
	StopOf(ctx context.Context, jobID string) (slackbot.Stop, error)
	WithdrawStop(ctx context.Context, s slackbot.Stop) (bool, error)
	CurrentJob(ctx context.Context, threadID string) (slackbot.Job, error)
	SetAssistantContext(ctx context.Context, c slackbot.AssistantContext) (bool, error)
	AssistantContextOf(ctx context.Context, k slackbot.Key) (slackbot.AssistantContext, error)
}

// Pruner is a Store that can forget old deliveries and finished work.
type Pruner interface {
	PruneDeliveries(ctx context.Context, olderThan time.Time) (int64, error)
	PruneFinished(ctx context.Context, olderThan time.Time) (slackbot.Pruned, error)
}

// JobLeaser is a Store that can lease one job by id (a test run follows
// only its own job).
type JobLeaser interface {
	LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error)
}

// JobListener hears the store's announcements that a job may have become
// leasable, made by any process sharing it, so an idle replica wakes at
// once instead of at its next poll. threadmap's PostgreSQL store is one
// (LISTEN/NOTIFY); a SQLite file has a single replica, which wakes itself.
type JobListener interface {
	// ListenJobs calls wake (which must not block) whenever a job may have
	// become leasable, and once as soon as it listens, since announcements
	// made before were missed. It returns nil when ctx ends, or the error
	// that stopped it listening.
	ListenJobs(ctx context.Context, wake func()) error
}
