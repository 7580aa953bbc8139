package slackpost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
)

// Priority orders the Slack writes of one workspace that wait for the same
// rate limit: the more urgent goes first, whatever waited longer.
type Priority int

const (
	// PriorityProgress is a live reply's progress (edits, appends, the
	// AI-app status). Writes with the same Key coalesce: only the latest
	// pending one is sent. Under load progress gets rarer.
	PriorityProgress Priority = iota
	// PriorityNormal is a write a user waits for that is not an answer:
	// placeholders, ephemerals, reactions, clearing a status.
	PriorityNormal
	// PriorityFinal is a final answer, a failure note or an approval card.
	PriorityFinal
	numPriorities
)

// ErrSuperseded is returned for a progress write that a newer one with the
// same key replaced before it was sent; nothing was written.
var ErrSuperseded = errors.New("slackpost: progress write superseded by a newer one")

// ErrClosed is returned for writes the scheduler refuses after Close: all
// writes once Close returned, progress as soon as it began.
var ErrClosed = errors.New("slackpost: scheduler closed")

// Write is one Slack Web API call, as the scheduler sees it.
type Write struct {
	Method   string // Slack method ("chat.update"): its rate limit applies
	Channel  string // chat.postMessage is limited per channel
	Priority Priority
	// Key coalesces progress writes (e.g. the message's ts): a pending
	// write is dropped when one with its key is queued after it.
	Key string
	// Call makes the call, once per attempt. A *slack.RateLimitedError
	// from it pauses the method and queues the write again.
	Call func(ctx context.Context) error
}

// Slack's Web API rate tiers, as calls per minute an app may make per
// workspace (docs.slack.dev/apis/web-api/rate-limits: Tier 1 1+/min, Tier 2
// 20+/min, Tier 3 50+/min, Tier 4 100+/min; short bursts are allowed).
const (
	tier2PerMinute = 20
	tier3PerMinute = 50
	tier4PerMinute = 100
)

// methodPerMinute are the documented tiers of the methods the bot writes
// with (see shared/reference/slack-platform.md §5): chat.update Tier 3,
// chat.postEphemeral Tier 4, reactions.add Tier 3, chat.delete Tier 3
// (Slack's java-slack-sdk MethodsRateLimits); chat.appendStream Tier 4
// (docs.slack.dev/reference/methods/chat.appendStream); chat.startStream
// and chat.stopStream Tier 2 (slack-morphism). Methods not listed have
// "special" or undocumented limits (assistant.threads.*, views.open,
// files.*, response_url posts): they are not paced, only paused by a 429.
var methodPerMinute = map[string]float64{
	"chat.update":        tier3PerMinute,
	"chat.delete":        tier3PerMinute,
	"chat.postEphemeral": tier4PerMinute,
	"reactions.add":      tier3PerMinute,
	"chat.appendStream":  tier4PerMinute,
	"chat.startStream":   tier2PerMinute,
	"chat.stopStream":    tier2PerMinute,
}

// chat.postMessage "generally allows posting one message per second per
// channel, while also maintaining a workspace-wide limit", with short
// bursts (docs.slack.dev/apis/web-api/rate-limits, "Posting messages").
// The burst and the workspace-wide limit are not documented: the burst is
// kept small, and the workspace-wide limit is learnt from 429s.
const (
	postMessagePerSecond = 1
	postMessageBurst     = 5
)

// Scheduler is the one path of a workspace's Slack writes. It paces each
// method (per channel for chat.postMessage) at its documented tier, lets
// the most urgent waiting write go first when the method has room, keeps
// only the latest pending progress write per key, and absorbs 429s: a
// 429 pauses that method for Retry-After and the write is queued again,
// so callers never see one.
//
// It owns no goroutine: every write waits in its caller's goroutine, and
// whoever changes a method's queue wakes its waiters. Close drains it.
type Scheduler struct {
	clk   clock
	scale float64 // multiplies the tiers; 0 turns pacing off

	mu      sync.Mutex
	lanes   map[string]*lane
	made    int // lanes made since the last sweep of lanes at rest
	seq     uint64
	closing bool          // Close began: progress is refused
	closed  bool          // Close returned: everything is refused
	pending int           // queued and running writes above progress
	idle    chan struct{} // closed and replaced when pending drops

	absorbed   atomic.Int64 // 429s the scheduler waited out
	superseded atomic.Int64 // progress writes coalesced away
	sent       atomic.Int64 // calls made
}

// SchedulerStats count what a scheduler did.
type SchedulerStats struct {
	Calls      int64 // Slack calls made, retries included
	Absorbed   int64 // 429s answered by Slack and retried
	Superseded int64 // progress writes dropped for a newer one
}

// NewScheduler returns a scheduler pacing at Slack's tiers times scale
// (1 is Slack's documented allowances; 0 paces nothing and only reacts to
// 429s). Tests that scale a fake Slack's tiers scale the scheduler alike.
func NewScheduler(scale float64) *Scheduler {
	return &Scheduler{clk: realClock{}, scale: max(scale, 0), lanes: map[string]*lane{}, idle: make(chan struct{})}
}

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() SchedulerStats {
	return SchedulerStats{Calls: s.sent.Load(), Absorbed: s.absorbed.Load(), Superseded: s.superseded.Load()}
}

// lane is one rate limit: a method, or chat.postMessage in one channel.
type lane struct {
	tokens, capacity, rate float64 // a token bucket; capacity 0 is unpaced
	last                   time.Time
	pausedUntil            time.Time // after a 429
	waiting                [numPriorities][]*ticket
	byKey                  map[string]*ticket // pending progress by key
	changed                chan struct{}      // closed and replaced on every change
}

// ticket is one write waiting for its turn.
type ticket struct {
	prio Priority
	seq  uint64 // place in the queue; kept across retries and coalescing
	born uint64 // when the write was made: the newer of two keys wins
	key  string
	// gone is set when the ticket left the queue other than by its turn.
	gone error
}

func (s *Scheduler) laneFor(w Write, now time.Time) *lane {
	name := w.Method
	capacity, rate := 0.0, 0.0
	if w.Method == "chat.postMessage" {
		name += " " + w.Channel
		capacity, rate = postMessageBurst*s.scale, postMessagePerSecond*s.scale
	} else if perMinute, ok := methodPerMinute[w.Method]; ok {
		// A minute's allowance may go at once: the tiers count calls per
		// minute.
		capacity, rate = perMinute*s.scale, perMinute*s.scale/60
	}
	ln := s.lanes[name]
	if ln == nil {
		if s.made++; s.made >= sweepEvery {
			s.made = 0
			s.sweep(now)
		}
		ln = &lane{tokens: capacity, capacity: capacity, rate: rate, last: now, byKey: map[string]*ticket{}, changed: make(chan struct{})}
		s.lanes[name] = ln
	}
	return ln
}

// sweepEvery is how many lanes are made between two sweeps of the lanes
// at rest: a bot posting in thousands of channels keeps only the lanes
// that still pace something, at an amortized cost per new lane.
const sweepEvery = 256

// sweep drops the lanes at rest. Callers hold s.mu.
func (s *Scheduler) sweep(now time.Time) {
	for name, ln := range s.lanes {
		if ln.atRest(now) {
			delete(s.lanes, name)
		}
	}
}

// atRest reports whether the lane is as a new one would be: nothing waits,
// no pause, a full bucket. Dropping it then changes nothing, and no caller
// holds it: a write that leaves the queue looks its lane up again (pause).
func (ln *lane) atRest(now time.Time) bool {
	if ln.head() != nil || now.Before(ln.pausedUntil) {
		return false
	}
	return ln.capacity == 0 || ln.tokens+max(now.Sub(ln.last).Seconds(), 0)*ln.rate >= ln.capacity
}

// signal wakes the lane's waiters.
func (ln *lane) signal() {
	close(ln.changed)
	ln.changed = make(chan struct{})
}

// head is the write whose turn is next: the most urgent, then the oldest.
func (ln *lane) head() *ticket {
	for p := numPriorities - 1; p >= 0; p-- {
		if q := ln.waiting[p]; len(q) > 0 {
			return q[0]
		}
	}
	return nil
}

// add queues t in seq order.
func (ln *lane) add(t *ticket) {
	q := ln.waiting[t.prio]
	i, _ := slices.BinarySearchFunc(q, t.seq, func(x *ticket, seq uint64) int { return compare(x.seq, seq) })
	ln.waiting[t.prio] = slices.Insert(q, i, t)
	if t.key != "" {
		ln.byKey[t.key] = t
	}
}

func (ln *lane) remove(t *ticket) {
	q := ln.waiting[t.prio]
	if i := slices.Index(q, t); i >= 0 {
		ln.waiting[t.prio] = slices.Delete(q, i, i+1)
	}
	if t.key != "" && ln.byKey[t.key] == t {
		delete(ln.byKey, t.key)
	}
}

// take spends a token, or says how long until one is there.
func (ln *lane) take(now time.Time) (time.Duration, bool) {
	if ln.capacity == 0 {
		return 0, true
	}
	if elapsed := now.Sub(ln.last).Seconds(); elapsed > 0 {
		ln.tokens = min(ln.capacity, ln.tokens+elapsed*ln.rate)
	}
	ln.last = now
	if ln.tokens >= 1 {
		ln.tokens--
		return 0, true
	}
	return time.Duration((1 - ln.tokens) / ln.rate * float64(time.Second)), false
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Do makes w when its turn comes and returns its result. A 429 is never
// returned: the method is paused for Retry-After and w waits for its turn
// again, until ctx ends. A progress write replaced by a newer one with its
// key returns ErrSuperseded without being sent.
func (s *Scheduler) Do(ctx context.Context, w Write) error {
	s.mu.Lock()
	s.seq++
	t := &ticket{prio: min(max(w.Priority, 0), numPriorities-1), seq: s.seq, born: s.seq}
	if t.prio == PriorityProgress {
		t.key = w.Key
	}
	s.mu.Unlock()
	for {
		if err := s.acquire(ctx, w, t); err != nil {
			return err
		}
		s.sent.Add(1)
		err := w.Call(ctx)
		retryAfter, limited := rateLimited(err)
		if !limited {
			s.finish(t)
			return err
		}
		s.absorbed.Add(1)
		s.pause(w, retryAfter)
		s.finish(t)
	}
}

// rateLimited reports whether err is Slack's 429, and for how long Slack
// asked to wait. slack-go returns a *slack.RateLimitedError when the 429
// carries Retry-After and a StatusCodeError otherwise; either way Slack did
// nothing, so the write can be retried (a second later without a
// Retry-After).
func rateLimited(err error) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	if httpStatus(err) == http.StatusTooManyRequests {
		return time.Second, true
	}
	return 0, false
}

// acquire queues t and returns once it may call: it is the lane's head,
// the lane is not paused and has a token.
func (s *Scheduler) acquire(ctx context.Context, w Write, t *ticket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.closing && t.prio == PriorityProgress {
		return ErrClosed
	}
	now := s.clk.Now()
	ln := s.laneFor(w, now)
	t.gone = nil
	if old := ln.byKey[t.key]; t.key != "" && old != nil {
		if old.born > t.born { // a retry of an older state: the newer one stays
			s.superseded.Add(1)
			return ErrSuperseded
		}
		ln.remove(old)
		old.gone = ErrSuperseded
		s.superseded.Add(1)
		t.seq = min(t.seq, old.seq) // the message keeps its place in line
		ln.signal()
	}
	ln.add(t)
	if t.prio > PriorityProgress {
		s.pending++
	}
	for {
		if t.gone != nil {
			return t.gone
		}
		wait := time.Duration(-1)
		if ln.head() == t {
			now := s.clk.Now()
			if now.Before(ln.pausedUntil) {
				wait = ln.pausedUntil.Sub(now)
			} else if d, ok := ln.take(now); ok {
				ln.remove(t)
				ln.signal() // the next write is head now
				return nil
			} else {
				wait = d
			}
		}
		changed := ln.changed
		var timer <-chan time.Time
		if wait >= 0 {
			timer = s.clk.After(wait)
		}
		s.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-changed:
		case <-timer:
		}
		s.mu.Lock()
		if err != nil && t.gone == nil {
			ln.remove(t)
			ln.signal()
			s.done(t)
			return fmt.Errorf("slack %s: waiting for its turn: %w", w.Method, err)
		}
	}
}

// finish ends an attempt of t that called Slack.
func (s *Scheduler) finish(t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done(t)
}

// done counts t out of the pending writes Close waits for. Callers hold
// s.mu.
func (s *Scheduler) done(t *ticket) {
	if t.prio == PriorityProgress {
		return
	}
	s.pending--
	if s.pending == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
}

// pause stops w's method (in its channel, for chat.postMessage) for d, as
// Slack's Retry-After says.
func (s *Scheduler) pause(w Write, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	ln := s.laneFor(w, now)
	if until := now.Add(max(d, time.Second)); until.After(ln.pausedUntil) {
		ln.pausedUntil = until
	}
	ln.tokens = min(ln.tokens, 0) // Slack's allowance is spent
	ln.signal()
}

// Free reports whether a write of method (in channel) would go at once:
// the method is not paused, nothing waits for it, and its tier has room.
// A live reply asks it before choosing a method with a tight tier.
func (s *Scheduler) Free(method, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	ln := s.laneFor(Write{Method: method, Channel: channel}, now)
	if now.Before(ln.pausedUntil) || ln.head() != nil {
		return false
	}
	if ln.capacity == 0 {
		return true
	}
	tokens := ln.tokens + max(now.Sub(ln.last).Seconds(), 0)*ln.rate
	return tokens >= 1
}

// Close drains the scheduler: pending progress writes are dropped
// (ErrClosed) and new ones refused, while writes above progress — queued,
// running, or made while Close waits (the later parts of an answer) — are
// still sent. It returns once none is left, or with ctx's error; after it,
// every write is refused.
func (s *Scheduler) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.lanes {
		for _, t := range ln.waiting[PriorityProgress] {
			t.gone = ErrClosed
		}
		ln.waiting[PriorityProgress] = nil
		clear(ln.byKey)
		ln.signal()
	}
	defer func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}()
	for s.pending > 0 {
		idle := s.idle
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("slack scheduler: draining: %w", ctx.Err())
		case <-idle:
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}
