package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// testRecord checks one Record of all three parts, then the same again.
func testRecord(t *testing.T, s threadmap.Store, clk *Clock) {
	ctx := t.Context()
	if _, err := s.Record(ctx, slackbot.Record{}); err == nil {
		t.Fatal("Record(empty) succeeded; want an error")
	}
	k := key(threadA)
	conv := slackbot.Conversation{Key: k, AgentID: "agent-1", StartedBy: "U1", MentionsOnly: true}
	job := newJob("msg:C0001:"+threadA, threadA)
	got, err := s.Record(ctx, slackbot.Record{Conversation: &conv, Job: &job, DeliveryID: "event:Ev1"})
	if err != nil || got != (slackbot.Recorded{JobAdded: true, DeliveryClaimed: true}) {
		t.Fatalf("Record = %+v, %v; want job added and delivery claimed", got, err)
	}
	c, err := s.Conversation(ctx, k)
	if err != nil || c.AgentID != "agent-1" || c.ThreadID != slackbot.ThreadID(k) || !c.CreatedAt.Equal(stamp(clk)) || !c.MentionsOnly {
		t.Fatalf("Conversation after Record = %+v, %v; want agent-1, derived thread id, created now, mentions only", c, err)
	}
	j := mustJob(t, s, job.ID)
	if j.ThreadID != slackbot.ThreadID(k) || j.State != slackbot.JobAccepted || string(j.Payload) != string(job.Payload) {
		t.Fatalf("Job after Record = %+v", j)
	}

	// A redelivery: nothing is new, and the first binding stays.
	clk.Advance(time.Second)
	other := conv
	other.AgentID = "agent-2"
	got, err = s.Record(ctx, slackbot.Record{Conversation: &other, Job: &job, DeliveryID: "event:Ev1"})
	if err != nil || got != (slackbot.Recorded{}) {
		t.Fatalf("Record(again) = %+v, %v; want nothing new", got, err)
	}
	if c, _ := s.Conversation(ctx, k); c.AgentID != "agent-1" {
		t.Fatalf("Conversation after a second Record has agent %q; want the first binding's agent-1", c.AgentID)
	}
	// The parts are independent: a known job with a new delivery id.
	got, err = s.Record(ctx, slackbot.Record{Job: &job, DeliveryID: "event:Ev2"})
	if err != nil || got != (slackbot.Recorded{DeliveryClaimed: true}) {
		t.Fatalf("Record(known job, new delivery) = %+v, %v; want only the delivery claimed", got, err)
	}
	if ok, err := s.ClaimDelivery(ctx, "event:Ev2"); err != nil || ok {
		t.Fatalf("ClaimDelivery after Record claimed it = %v, %v; want false", ok, err)
	}
}

// testRecordConcurrentDuplicates races many callers, so their Records share
// transactions: every duplicated delivery yields exactly one job and one
// claim however the callers were grouped, and each distinct one is new.
func testRecordConcurrentDuplicates(t *testing.T, s threadmap.Store, _ *Clock) {
	const (
		dupIDs  = 5 // each delivered Concurrency times
		uniques = 3 * Concurrency
	)
	type outcome struct {
		id  string
		res slackbot.Recorded
		err error
	}
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	send := func(id string) {
		wg.Go(func() {
			k := key("1700000001." + id)
			j := newJob("msg:"+id, k.RootTS)
			res, err := s.Record(t.Context(), slackbot.Record{
				Conversation: &slackbot.Conversation{Key: k, AgentID: "agent-1"},
				Job:          &j,
				DeliveryID:   "event:" + id,
			})
			mu.Lock()
			outcomes = append(outcomes, outcome{id, res, err})
			mu.Unlock()
		})
	}
	for i := range Concurrency {
		for d := range dupIDs {
			send(fmt.Sprintf("dup%d", d))
		}
		for u := range uniques / Concurrency {
			send(fmt.Sprintf("u%d-%d", i, u))
		}
	}
	wg.Wait()

	added, claimed := map[string]int{}, map[string]int{}
	var errs []error
	for _, o := range outcomes {
		errs = append(errs, o.err)
		if o.res.JobAdded {
			added[o.id]++
		}
		if o.res.DeliveryClaimed {
			claimed[o.id]++
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Record: %v", err)
	}
	for _, o := range outcomes {
		if added[o.id] != 1 || claimed[o.id] != 1 {
			t.Errorf("%s: job added %d times, delivery claimed %d times; want exactly once each", o.id, added[o.id], claimed[o.id])
		}
		mustJob(t, s, "msg:"+o.id)
	}
	if len(added) != dupIDs+uniques {
		t.Errorf("%d distinct jobs added; want %d", len(added), dupIDs+uniques)
	}
}
