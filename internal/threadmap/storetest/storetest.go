// Package storetest is the behaviour every threadmap.Store must show, as one
// test suite that each implementation (and any fake of one) runs.
package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// Opener opens a fresh, empty store that reads the time from now, and
// registers its own cleanup with t.
type Opener func(t *testing.T, now func() time.Time) threadmap.Store

// Start is where every test's clock starts: not UTC and finer than a
// microsecond, to check that stores hand times back in UTC at microsecond
// precision.
var Start = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+1", 3600))

// Concurrency is how many goroutines race in the exactly-once tests.
const Concurrency = 20

type suiteTest struct {
	name string
	run  func(t *testing.T, s threadmap.Store, clk *Clock)
}

// RunStoreSuite runs every store test, each on a fresh store from open.
func RunStoreSuite(t *testing.T, open Opener) {
	t.Helper()
	tests := []suiteTest{
		{"ThreadID", testThreadID},
		{"Ping", testPing},
		{"Conversations", testConversations},
		{"BindConversationConcurrent", testBindConversationConcurrent},
		{"ClaimDeliveryOnce", testClaimDeliveryOnce},
		{"PruneDeliveries", testPruneDeliveries},
		{"AddJobDedupe", testAddJobDedupe},
		{"Record", testRecord},
		{"RecordConcurrentDuplicates", testRecordConcurrentDuplicates},
		{"LeasePerThreadOrder", testLeasePerThreadOrder},
		{"LeaseSkipsPaused", testLeaseSkipsPaused},
		{"LeaseExpiredTakeover", testLeaseExpiredTakeover},
		{"RenewLease", testRenewLease},
		{"UpdateJob", testUpdateJob},
		{"ReleaseLease", testReleaseLease},
		{"LeaseTokens", testLeaseTokens},
		{"PruneFinished", testPruneFinished},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"Cards", testCards},
		{"DecideCardConcurrent", testDecideCardConcurrent},
		{"DecideCardJobNotPaused", testDecideCardJobNotPaused},
		{"ResumeJob", testResumeJob},
		{"FeedbackOncePerUser", testFeedbackOncePerUser},
		{"StopOnceConcurrent", testStopOnceConcurrent},
		{"WithdrawStop", testWithdrawStop},
		{"CurrentJob", testCurrentJob},
		{"AssistantContext", testAssistantContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewClock(Start)
			s := open(t, clk.Now)
			tc.run(t, s, clk)
		})
	}
}

// stamp is the time a store records for the clock's current time.
func stamp(clk *Clock) time.Time { return clk.Now().UTC().Truncate(time.Microsecond) }

func key(thread string) slackbot.Key {
	return slackbot.Key{TeamID: "T0001", ChannelID: "C0001", RootTS: thread}
}

func newJob(id, thread string) slackbot.Job {
	return slackbot.Job{ID: id, Key: key(thread), Kind: "prompt", Payload: []byte(`{"text":"` + id + `"}`)}
}

func mustAdd(t *testing.T, s threadmap.Store, jobs ...slackbot.Job) {
	t.Helper()
	for _, j := range jobs {
		ok, err := s.AddJob(t.Context(), j)
		if err != nil || !ok {
			t.Fatalf("AddJob(%s) = %v, %v; want true, nil", j.ID, ok, err)
		}
	}
}

func mustLease(t *testing.T, s threadmap.Store, owner string, ttl time.Duration, wantID string) slackbot.Job {
	t.Helper()
	j, err := s.LeaseNextJob(t.Context(), owner, ttl)
	if err != nil {
		t.Fatalf("LeaseNextJob(%s) error = %v; want job %s", owner, err, wantID)
	}
	if j.ID != wantID {
		t.Fatalf("LeaseNextJob(%s) = job %s; want %s", owner, j.ID, wantID)
	}
	return j
}

func mustNoJob(t *testing.T, s threadmap.Store, owner string) {
	t.Helper()
	j, err := s.LeaseNextJob(t.Context(), owner, time.Minute)
	if !errors.Is(err, slackbot.ErrNoJob) {
		t.Fatalf("LeaseNextJob(%s) = job %q, %v; want ErrNoJob", owner, j.ID, err)
	}
}

func mustJob(t *testing.T, s threadmap.Store, id string) slackbot.Job {
	t.Helper()
	j, err := s.Job(t.Context(), id)
	if err != nil {
		t.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

func mustUnfinished(t *testing.T, s threadmap.Store, thread string, want int) {
	t.Helper()
	n, err := s.UnfinishedJobs(t.Context(), slackbot.ThreadID(key(thread)))
	if err != nil || n != want {
		t.Fatalf("UnfinishedJobs(%s) = %d, %v; want %d", thread, n, err, want)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s error = %v; want %v", what, err, want)
	}
}

func testPing(t *testing.T, s threadmap.Store, _ *Clock) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
