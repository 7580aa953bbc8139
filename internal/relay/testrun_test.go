package relay

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

const testAgent = "00000000-0000-4000-8000-000000000001"

// newTestRelay wires a relay over a SQLite store and the fakes.
func newTestRelay(t *testing.T, owner string, store threadmap.Store, script agentstest.Script) (*Relay, *slackfake.Server) {
	t.Helper()
	runtime := agentstest.NewServer()
	t.Cleanup(runtime.Close)
	runtime.AddAgent(testAgent, script)
	client, err := agents.New(runtime.URL, "test-key")
	if err != nil {
		t.Fatal(err)
	}
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	r, err := New(store, client,
		PosterSlack{Poster: slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))},
		WithPolicy(Policy{DefaultAgent: testAgent}),
		WithOwner(owner),
		WithLeaseTTL(time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r, fake
}

func openTestStore(t *testing.T) threadmap.Store {
	t.Helper()
	s, err := threadmap.Open(t.Context(), filepath.Join(t.TempDir(), "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startTestRun(t *testing.T, r *Relay) TestRunTicket {
	t.Helper()
	ticket, err := r.StartTestRun(t.Context(), TestRun{TeamID: "T1", ChannelID: "COPS1", Text: "ping", StartedBy: "UBOT", Origin: "a test"})
	if err != nil {
		t.Fatal(err)
	}
	return ticket
}

// A replica of the service leased the test run first and died: the
// caller waits for its lease to expire, takes the job over and finishes it.
func TestFollowTestRunTakesOverAnExpiredLease(t *testing.T) {
	store := openTestStore(t)
	r, _ := newTestRelay(t, "cli", store, agentstest.Scripted(agentstest.Text("pong")))
	ticket := startTestRun(t, r)
	if _, err := store.(threadmap.JobLeaser).LeaseJob(t.Context(), ticket.JobID, "dead-replica", time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := r.FollowTestRun(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != TestRunSuccess || res.Answer != "pong" || res.RunID == "" {
		t.Fatalf("result = %+v", res)
	}
	job, _ := store.Job(t.Context(), ticket.JobID)
	if job.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2 (the dead replica's and the takeover)", job.Attempts)
	}
}

// A live replica follows the run: the caller only waits and reports what
// that replica recorded.
func TestFollowTestRunWaitsForTheReplicaThatHoldsIt(t *testing.T) {
	store := openTestStore(t)
	caller, _ := newTestRelay(t, "cli", store, agentstest.Scripted(agentstest.Text("unused")))
	ticket := startTestRun(t, caller)
	job, err := store.(threadmap.JobLeaser).LeaseJob(t.Context(), ticket.JobID, "replica-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		p, _ := decodePayload(job.Payload)
		job.State, job.RunID = slackbot.JobDone, "run-from-replica-a"
		keepAnswer(&job, p, "answered by replica a")
		if err := store.UpdateJob(context.Background(), job); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := caller.FollowTestRun(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != TestRunSuccess || res.Answer != "answered by replica a" || res.RunID != "run-from-replica-a" {
		t.Fatalf("result = %+v", res)
	}
}

func TestStartTestRunRefusals(t *testing.T) {
	store := openTestStore(t)
	r, fake := newTestRelay(t, "cli", store, agentstest.Echo())
	r.cfg.Policy.AllowedChannels = map[string]bool{"CALLOWED1": true}
	if _, err := r.StartTestRun(t.Context(), TestRun{TeamID: "T1", ChannelID: "COTHER1", Text: "x"}); err != ErrChannelNotAllowed {
		t.Fatalf("channel outside ALLOWED_CHANNELS: %v", err)
	}
	fake.NotInChannel("CALLOWED1")
	_, err := r.StartTestRun(t.Context(), TestRun{TeamID: "T1", ChannelID: "CALLOWED1", Text: "x"})
	if err == nil || !slackpost.IsNotInChannel(err) {
		t.Fatalf("bot not in channel: %v", err)
	}
	if _, err := r.StartTestRun(t.Context(), TestRun{TeamID: "T1", ChannelID: "CALLOWED1", Text: "  "}); err == nil {
		t.Fatal("empty prompt accepted")
	}
	if len(fake.Messages("CALLOWED1")) != 0 {
		t.Fatal("a refused test run posted something")
	}
}

type failingAdds struct{ threadmap.Store }

func (failingAdds) Record(context.Context, slackbot.Record) (slackbot.Recorded, error) {
	return slackbot.Recorded{}, errors.New("disk full")
}

// A test run whose root message is posted but whose job cannot be
// recorded says so in the thread, and the caller gets the error.
func TestStartTestRunUnrecordedSaysSoInTheThread(t *testing.T) {
	r, fake := newTestRelay(t, "cli", failingAdds{openTestStore(t)}, agentstest.Echo())
	_, err := r.StartTestRun(t.Context(), TestRun{TeamID: "T1", ChannelID: "COPS1", Text: "ping", StartedBy: "UBOT"})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = fake.WaitFor(ctx, func(f *slackfake.Server) bool {
		msgs := f.Messages("COPS1")
		if len(msgs) == 0 {
			return false
		}
		thread := f.Thread("COPS1", msgs[0].TS)
		return len(thread) == 2 && strings.Contains(thread[1].Rendered, "could not be started")
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, fake.Transcript("COPS1"))
	}
}
