// Package threadmap keeps the durable state behind Slack conversations and
// their agent threads (slackbot.ThreadID): conversations, handled Slack
// deliveries, the ledger of work being followed, and approval cards, in
// SQLite or PostgreSQL.
package threadmap

import (
	"context"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// Store is the persistence behind the bot. Every method is safe for
// concurrent use by several processes sharing one database.
type Store interface {
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	Close() error

	// Conversation returns the conversation for k, or slackbot.ErrNotFound.
	Conversation(ctx context.Context, k slackbot.Key) (slackbot.Conversation, error)
	// BindConversation stores c unless its key is already bound, and returns
	// the stored conversation (the first binding wins).
	BindConversation(ctx context.Context, c slackbot.Conversation) (slackbot.Conversation, error)

	// ClaimDelivery records a Slack delivery id (event id, "channel/ts", …)
	// and reports whether this call was the first to claim it.
	ClaimDelivery(ctx context.Context, id string) (bool, error)

	// AddJob inserts j unless a job with its ID exists; reports whether it inserted.
	AddJob(ctx context.Context, j slackbot.Job) (bool, error)
	// Record writes what accepting a piece of Slack work leaves (a
	// conversation binding, a job, a delivery claim) in one transaction,
	// each part only if new, and reports which parts were. It returns once
	// that transaction is durable. Concurrent calls share transactions
	// (group commit), yet each gets its own result: a Record that fails
	// fails alone, and of concurrent Records of one job or delivery exactly
	// one reports it new. AddJob and ClaimDelivery are Records of one part.
	Record(ctx context.Context, r slackbot.Record) (slackbot.Recorded, error)
	// Job returns the job with id, or slackbot.ErrNotFound.
	Job(ctx context.Context, id string) (slackbot.Job, error)
	// UnfinishedJobs counts jobs of a thread that are not final.
	UnfinishedJobs(ctx context.Context, threadID string) (int, error)
	// LeaseNextJob leases the oldest non-final, non-paused job whose lease is
	// free or expired and that is the oldest non-final job of its thread, to
	// owner for ttl; it increments Attempts. The returned job's LeaseOwner is
	// owner, a slash and a token unique to this lease: it is what RenewLease,
	// UpdateJob and ReleaseLease must be given, so two workers sharing a name
	// never act on each other's lease. Lease times come from the database's
	// clock (SQLite: the machine's). slackbot.ErrNoJob when there is none.
	LeaseNextJob(ctx context.Context, owner string, ttl time.Duration) (slackbot.Job, error)
	// RenewLease extends the lease held as owner (a LeaseOwner from
	// LeaseNextJob) on a job, or returns slackbot.ErrLeaseLost.
	RenewLease(ctx context.Context, jobID, owner string, ttl time.Duration) error
	// UpdateJob saves State, RunID, ReplyTS, LastEventID, Delivered, Error and
	// Payload of j if j.LeaseOwner still holds the lease, else slackbot.ErrLeaseLost.
	// A job saved as paused or final keeps no lease.
	UpdateJob(ctx context.Context, j slackbot.Job) error
	// ReleaseLease gives the lease up so another worker may take the job now.
	ReleaseLease(ctx context.Context, jobID, owner string) error

	// ResumeJob does for a paused job what DecideCard does for the job of
	// the card it decides: back to accepted as Kind "resume" with Payload
	// resume and its run fields cleared. It reports whether the job was
	// paused. A worker uses it when a decision landed while it was still
	// pausing the job.
	ResumeJob(ctx context.Context, jobID string, resume []byte) (bool, error)

	// SaveCard inserts or replaces an undecided card.
	SaveCard(ctx context.Context, c slackbot.Card) error
	// Card returns the card with id, or slackbot.ErrNotFound.
	Card(ctx context.Context, id string) (slackbot.Card, error)
	// DecideCard records a decision atomically. In the same transaction the
	// card's job, if paused, goes back to accepted as Kind "resume" with
	// Payload resume, its RunID, ReplyTS, LastEventID, Delivered, Error and
	// Attempts cleared and its lease free, so a worker resumes the run
	// exactly once (and a run with many approvals never runs out of attempts).
	// It returns the card as stored and whether this call decided it; a card
	// decided before is returned unchanged with false.
	DecideCard(ctx context.Context, id, by string, decision, resume []byte, at time.Time) (slackbot.Card, bool, error)

	// RecordFeedback stores f unless f.UserID already rated f.JobID, and
	// reports whether this call stored it (the first verdict stands).
	RecordFeedback(ctx context.Context, f slackbot.Feedback) (bool, error)
	// RecordStop stores s unless the job was stopped already; it returns
	// the stop as stored and whether this call made it.
	RecordStop(ctx context.Context, s slackbot.Stop) (slackbot.Stop, bool, error)
	// StopOf returns the stop of a job, or slackbot.ErrNotFound.
	StopOf(ctx context.Context, jobID string) (slackbot.Stop, error)
	// WithdrawStop deletes the stop of s.JobID if it is s (same run and
	// user): a stop whose cancel did not take must not be reported. It
	// reports whether it deleted one.
	WithdrawStop(ctx context.Context, s slackbot.Stop) (bool, error)

	// CurrentJob returns the job a thread is working on or waiting for:
	// its oldest non-final job, or slackbot.ErrNotFound.
	CurrentJob(ctx context.Context, threadID string) (slackbot.Job, error)

	// SetAssistantContext stores c as its thread's context unless a context
	// from a later event is stored (a late redelivery must not undo a newer
	// change); it reports whether it stored c.
	SetAssistantContext(ctx context.Context, c slackbot.AssistantContext) (bool, error)
	// AssistantContextOf returns the context of an AI app thread, or slackbot.ErrNotFound.
	AssistantContextOf(ctx context.Context, k slackbot.Key) (slackbot.AssistantContext, error)
}
