// Package threadmap maps Slack conversations to stable agent thread ids and
// keeps the durable state behind them: conversations, handled Slack
// deliveries, the ledger of work being followed, and approval cards.
package threadmap

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Errors returned by every Store implementation.
var (
	ErrNotFound  = errors.New("threadmap: not found")
	ErrNoJob     = errors.New("threadmap: no job ready")
	ErrLeaseLost = errors.New("threadmap: lease not held")
)

// Key identifies a Slack conversation: a thread in a channel of a workspace.
// RootTS is the thread_ts of the thread, or the ts of the message that starts it.
type Key struct {
	TeamID    string
	ChannelID string
	RootTS    string
}

// String is the conversation's URL-like name that its thread id is derived from.
func (k Key) String() string {
	return "slack://" + k.TeamID + "/" + k.ChannelID + "/" + k.RootTS
}

// ThreadID is the agent thread id of a conversation: a UUIDv5 in the URL
// namespace over "slack://<team>/<channel>/<root_ts>", so every replica and
// every restart derives the same id without asking anyone.
func ThreadID(k Key) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(k.String())).String()
}

// Options are the thread options a conversation was created with.
type Options struct {
	TestRun                   bool
	SkipMemoryWriteProtection bool
}

// Conversation is a Slack thread bound to an agent thread. It keeps the agent
// and options it was created with even if the channel's policy changes later.
type Conversation struct {
	Key       Key
	ThreadID  string
	AgentID   string
	Options   Options
	StartedBy string // Slack user id
	CreatedAt time.Time
	// MentionsOnly marks a conversation the bot joined in someone else's
	// thread: only messages that mention the bot continue it.
	MentionsOnly bool
}

// Job states.
const (
	JobAccepted = "accepted" // recorded, no run started yet
	JobStarting = "starting" // a run start was sent; RunID may be unknown
	JobRunning  = "running"  // run started, being followed
	JobDone     = "done"     // final answer delivered
	JobFailed   = "failed"   // failure message delivered
	JobPaused   = "paused"   // run interrupted; waiting for a decision on a card
)

// Job is one unit of accepted Slack work (a prompt, a follow-up, a decision)
// and the state of the run that serves it. Jobs of one conversation are
// worked strictly in the order they were added.
type Job struct {
	ID          string // deterministic id of the Slack delivery it came from
	Key         Key
	ThreadID    string
	Kind        string // "prompt" or "resume"
	Payload     []byte // JSON owned by the worker (what to send)
	State       string
	RunID       string
	ReplyTS     string // ts of the bot's live reply in the Slack thread
	LastEventID string // last stream event seen, to rejoin a run
	Delivered   int    // parts of the final answer already posted
	Error       string
	Attempts    int    // leases taken since the job was added or last resumed
	LeaseOwner  string // "<owner>/<token>": the token is unique to one lease
	LeaseUntil  time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Final reports whether the job needs no more work.
func (j Job) Final() bool { return j.State == JobDone || j.State == JobFailed }

// Card is an approval card posted for an interrupted run.
type Card struct {
	ID        string // unguessable, carried in the buttons' values
	JobID     string
	Key       Key
	ThreadID  string
	ChannelID string
	MessageTS string
	StartedBy string
	Interrupt []byte // JSON of the interrupt being decided
	Decision  []byte // JSON of the decisions sent, once decided
	DecidedBy string
	DecidedAt time.Time
	CreatedAt time.Time
}

// Decided reports whether someone already decided the card.
func (c Card) Decided() bool { return c.DecidedBy != "" }

// Feedback is one user's verdict on one answer: Score 1 (good) or 0 (bad).
type Feedback struct {
	JobID     string // the job that delivered the answer
	UserID    string
	RunID     string
	Score     int
	CreatedAt time.Time
}

// Stop records who stopped a job's run, first.
type Stop struct {
	JobID     string
	RunID     string
	StoppedBy string
	StoppedAt time.Time
}

// AssistantContext is the channel a user has in view beside a Slack AI app
// thread, as Slack last told it.
type AssistantContext struct {
	Key       Key       // the AI app thread: its DM channel and thread_ts
	ChannelID string    // the channel in view
	EventAt   time.Time // the event's event_ts: the newest event wins
}

// Store is the persistence behind the bot. Every method is safe for
// concurrent use by several processes sharing one database.
type Store interface {
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	Close() error

	// Conversation returns the conversation for k, or ErrNotFound.
	Conversation(ctx context.Context, k Key) (Conversation, error)
	// BindConversation stores c unless its key is already bound, and returns
	// the stored conversation (the first binding wins).
	BindConversation(ctx context.Context, c Conversation) (Conversation, error)

	// ClaimDelivery records a Slack delivery id (event id, "channel/ts", …)
	// and reports whether this call was the first to claim it.
	ClaimDelivery(ctx context.Context, id string) (bool, error)

	// AddJob inserts j unless a job with its ID exists; reports whether it inserted.
	AddJob(ctx context.Context, j Job) (bool, error)
	// Record writes what accepting a piece of Slack work leaves (a
	// conversation binding, a job, a delivery claim) in one transaction,
	// each part only if new, and reports which parts were. It returns once
	// that transaction is durable. Concurrent calls share transactions
	// (group commit), yet each gets its own result: a Record that fails
	// fails alone, and of concurrent Records of one job or delivery exactly
	// one reports it new. AddJob and ClaimDelivery are Records of one part.
	Record(ctx context.Context, r Record) (Recorded, error)
	// Job returns the job with id, or ErrNotFound.
	Job(ctx context.Context, id string) (Job, error)
	// UnfinishedJobs counts jobs of a thread that are not final.
	UnfinishedJobs(ctx context.Context, threadID string) (int, error)
	// LeaseNextJob leases the oldest non-final, non-paused job whose lease is
	// free or expired and that is the oldest non-final job of its thread, to
	// owner for ttl; it increments Attempts. The returned job's LeaseOwner is
	// owner, a slash and a token unique to this lease: it is what RenewLease,
	// UpdateJob and ReleaseLease must be given, so two workers sharing a name
	// never act on each other's lease. Lease times come from the database's
	// clock (SQLite: the machine's). ErrNoJob when there is none.
	LeaseNextJob(ctx context.Context, owner string, ttl time.Duration) (Job, error)
	// RenewLease extends the lease held as owner (a LeaseOwner from
	// LeaseNextJob) on a job, or returns ErrLeaseLost.
	RenewLease(ctx context.Context, jobID, owner string, ttl time.Duration) error
	// UpdateJob saves State, RunID, ReplyTS, LastEventID, Delivered, Error and
	// Payload of j if j.LeaseOwner still holds the lease, else ErrLeaseLost.
	// A job saved as paused or final keeps no lease.
	UpdateJob(ctx context.Context, j Job) error
	// ReleaseLease gives the lease up so another worker may take the job now.
	ReleaseLease(ctx context.Context, jobID, owner string) error

	// ResumeJob does for a paused job what DecideCard does for the job of
	// the card it decides: back to accepted as Kind "resume" with Payload
	// resume and its run fields cleared. It reports whether the job was
	// paused. A worker uses it when a decision landed while it was still
	// pausing the job.
	ResumeJob(ctx context.Context, jobID string, resume []byte) (bool, error)

	// SaveCard inserts or replaces an undecided card.
	SaveCard(ctx context.Context, c Card) error
	// Card returns the card with id, or ErrNotFound.
	Card(ctx context.Context, id string) (Card, error)
	// DecideCard records a decision atomically. In the same transaction the
	// card's job, if paused, goes back to accepted as Kind "resume" with
	// Payload resume, its RunID, ReplyTS, LastEventID, Delivered, Error and
	// Attempts cleared and its lease free, so a worker resumes the run
	// exactly once (and a run with many approvals never runs out of attempts).
	// It returns the card as stored and whether this call decided it; a card
	// decided before is returned unchanged with false.
	DecideCard(ctx context.Context, id, by string, decision, resume []byte, at time.Time) (Card, bool, error)

	// RecordFeedback stores f unless f.UserID already rated f.JobID, and
	// reports whether this call stored it (the first verdict stands).
	RecordFeedback(ctx context.Context, f Feedback) (bool, error)
	// RecordStop stores s unless the job was stopped already; it returns
	// the stop as stored and whether this call made it.
	RecordStop(ctx context.Context, s Stop) (Stop, bool, error)
	// StopOf returns the stop of a job, or ErrNotFound.
	StopOf(ctx context.Context, jobID string) (Stop, error)
	// WithdrawStop deletes the stop of s.JobID if it is s (same run and
	// user): a stop whose cancel did not take must not be reported. It
	// reports whether it deleted one.
	WithdrawStop(ctx context.Context, s Stop) (bool, error)

	// CurrentJob returns the job a thread is working on or waiting for:
	// its oldest non-final job, or ErrNotFound.
	CurrentJob(ctx context.Context, threadID string) (Job, error)

	// SetAssistantContext stores c as its thread's context unless a context
	// from a later event is stored (a late redelivery must not undo a newer
	// change); it reports whether it stored c.
	SetAssistantContext(ctx context.Context, c AssistantContext) (bool, error)
	// AssistantContextOf returns the context of an AI app thread, or ErrNotFound.
	AssistantContextOf(ctx context.Context, k Key) (AssistantContext, error)
}
