package threadmap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deepagents-slack/slackbot"
)

var errEmptyRecord = errors.New("threadmap: Record with nothing to record")

// maxGroup bounds how many Records share one transaction.
const maxGroup = 256

// groupTimeout bounds one group's transaction; it belongs to no single
// caller, so no caller's context may cut it short for the others.
const groupTimeout = 30 * time.Second

// pendingRecord is one caller's Record waiting for its group's commit.
type pendingRecord struct {
	ctx  context.Context
	rec  slackbot.Record
	res  slackbot.Recorded
	err  error
	done chan struct{}
}

// groupCommit makes concurrent Records share transactions: a writer
// goroutine takes the first waiting Record, then every other one already
// waiting, and writes them in a single transaction (one fsync for all). While it commits,
// new Records queue for the next group, so under load groups grow by
// themselves and an idle store adds no delay. Each caller returns only after
// the commit that holds its Record, with its own result.
type groupCommit struct {
	// write writes every Record of group in one transaction and fills in
	// their results; on error nothing of the group was written.
	write func(ctx context.Context, group []*pendingRecord) error
	// timeout bounds each transaction: groupTimeout outside tests.
	timeout time.Duration

	queue chan *pendingRecord
	stop  chan struct{}
	// closing is read-held by every caller while it enqueues and
	// write-held by close while it marks the store closed, so no Record
	// enters the queue once the writers may have drained it and returned.
	closing sync.RWMutex
	closed  bool
	wg      sync.WaitGroup
}

// newGroupCommit starts writers goroutines that each commit one group at a
// time: one for a store with a single writer (SQLite), more where
// transactions can run side by side (PostgreSQL), so one group's round trips
// and commit overlap another's.
func newGroupCommit(writers int, write func(ctx context.Context, group []*pendingRecord) error) *groupCommit {
	g := &groupCommit{write: write, timeout: groupTimeout, queue: make(chan *pendingRecord, maxGroup), stop: make(chan struct{})}
	for range max(writers, 1) {
		g.wg.Add(1)
		go g.loop()
	}
	return g
}

// record queues rec and waits for the commit that holds it.
func (g *groupCommit) record(ctx context.Context, rec slackbot.Record) (slackbot.Recorded, error) {
	if rec.Conversation == nil && rec.Job == nil && rec.DeliveryID == "" {
		return slackbot.Recorded{}, errEmptyRecord
	}
	p := &pendingRecord{ctx: ctx, rec: rec, done: make(chan struct{})}
	if err := g.enqueue(ctx, p); err != nil {
		return slackbot.Recorded{}, err
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		// The group may still commit this Record: like any write whose
		// caller gave up, it may or may not have happened.
		return slackbot.Recorded{}, ctx.Err()
	}
}

// enqueue hands p to the writers unless the store is closed. A full queue
// only waits for the writers, which never take closing, so close cannot be
// kept waiting past the time they need to make room.
func (g *groupCommit) enqueue(ctx context.Context, p *pendingRecord) error {
	g.closing.RLock()
	defer g.closing.RUnlock()
	if g.closed {
		return slackbot.ErrClosed
	}
	select {
	case g.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking Records, finishes the ones queued and returns when the
// last group is committed.
func (g *groupCommit) close() {
	g.closing.Lock()
	first := !g.closed
	g.closed = true
	g.closing.Unlock()
	// Every Record enqueued so far is in the queue now, and no other one
	// will be: the writers' drain after stop answers them all.
	if first {
		close(g.stop)
	}
	g.wg.Wait()
}

func (g *groupCommit) loop() {
	defer g.wg.Done()
	group := make([]*pendingRecord, 0, maxGroup)
	for {
		var first *pendingRecord
		select {
		case first = <-g.queue:
		case <-g.stop:
			// Callers that got in before stop still get an answer.
			for {
				select {
				case p := <-g.queue:
					g.commit([]*pendingRecord{p})
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
	gather:
		for len(group) < maxGroup {
			select {
			case p := <-g.queue:
				group = append(group, p)
			default:
				break gather
			}
		}
		g.commit(group)
	}
}

// commit writes group in one transaction and answers every caller. If that
// transaction fails, each Record is retried alone in its own, so one bad
// Record fails only its own caller. Dedupe hits are not failures: every
// insert is "unless it exists", and a Record that repeats one earlier in the
// same group sees it as existing.
func (g *groupCommit) commit(group []*pendingRecord) {
	live := group[:0:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.err = err // its caller is gone; write nothing for it
			close(p.done)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	err := g.writeWithTimeout(live)
	if err != nil && len(live) > 1 {
		for _, p := range live {
			p.res = slackbot.Recorded{}
			// Its own timeout: the failed group may have used up most of
			// the group's.
			p.err = g.writeWithTimeout([]*pendingRecord{p})
			if p.err != nil {
				p.res = slackbot.Recorded{}
				p.err = fmt.Errorf("threadmap: record: %w", p.err)
			}
			close(p.done)
		}
		return
	}
	for _, p := range live {
		if err != nil {
			p.res, p.err = slackbot.Recorded{}, fmt.Errorf("threadmap: record: %w", err)
		}
		close(p.done)
	}
}

// writeWithTimeout writes group in one transaction bounded by g.timeout.
func (g *groupCommit) writeWithTimeout(group []*pendingRecord) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	return g.write(ctx, group)
}

// prepareRecord fills in what a caller may leave out, as the single-part
// methods do.
func prepareRecord(r slackbot.Record, now time.Time) slackbot.Record {
	if r.Conversation != nil {
		c := prepareConversation(*r.Conversation, now)
		r.Conversation = &c
	}
	if r.Job != nil {
		j := prepareJob(*r.Job, now)
		r.Job = &j
	}
	return r
}
