package slackbot

import "time"

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

// Record is what accepting one piece of Slack work writes, all of it in one
// transaction: the conversation it binds, the job it adds and the delivery
// it claims. Each part is optional and each is written only if new.
type Record struct {
	// Conversation is bound unless its key is bound already (the first
	// binding wins).
	Conversation *Conversation
	// Job is added unless a job with its ID exists.
	Job *Job
	// DeliveryID is claimed unless it was claimed before.
	DeliveryID string
}

// Recorded reports which parts of a Record were new.
type Recorded struct {
	JobAdded        bool
	DeliveryClaimed bool
}

// Pruned counts the finished jobs and approval cards a prune removed.
type Pruned struct {
	Jobs  int64
	Cards int64
}
