package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// TestRun is a test run requested outside Slack, by an ops pipeline
// (`bot test-run`, POST /ops/test-runs). It is posted into the channel as
// `/agent test` would post it: a root message naming it a test run, the
// live reply and the answer in its thread, with test_run: true.
type TestRun struct {
	TeamID    string // the workspace of the bot's token
	ChannelID string
	// AgentID, if set, is the agent of this conversation instead of the
	// channel's.
	AgentID string
	Text    string
	// StartedBy is the Slack user the run is attributed to (the thread's
	// metadata, the stream's recipient, who may decide its cards besides
	// ops). Pipelines have no Slack user: callers pass the bot's own.
	StartedBy string
	// Origin names the requester in the root message, e.g. "bot test-run".
	Origin string
}

// TestRunTicket identifies a recorded test run.
type TestRunTicket struct {
	JobID     string
	ThreadID  string
	ChannelID string
	RootTS    string // the root message; the conversation's thread
}

// Test run outcomes.
const (
	TestRunSuccess = "success" // the answer was delivered
	TestRunError   = "error"   // the run failed; the failure note was delivered
	TestRunPaused  = "paused"  // the run waits for a decision on an approval card
	TestRunTimeout = "timeout" // the caller's time ran out; the run goes on
	// TestRunInterrupted: the caller stopped waiting before its time ran
	// out (e.g. the service shuts down); the run goes on.
	TestRunInterrupted = "interrupted"
)

// TestRunResult is how a test run ended, as far as its caller waited.
type TestRunResult struct {
	TestRunTicket
	RunID  string
	Status string
	Answer string // the final answer (success)
	Error  string // what the thread was told (error, paused)
}

// ErrChannelNotAllowed: the channel is not in ALLOWED_CHANNELS.
var ErrChannelNotAllowed = errors.New("the bot is not enabled in this channel (ALLOWED_CHANNELS)")

// StartTestRun posts the root message of a test run and records its run
// as a job of a new conversation bound to the channel's agent (or
// tr.AgentID) with test_run: true. Any worker may then follow it; see
// FollowTestRun.
func (r *Relay) StartTestRun(ctx context.Context, tr TestRun) (TestRunTicket, error) {
	tr.Text = strings.TrimSpace(tr.Text)
	switch {
	case tr.ChannelID == "" || tr.Text == "" || tr.TeamID == "":
		return TestRunTicket{}, errors.New("relay: a test run needs a team, a channel and a prompt")
	case !r.cfg.Policy.Allows(tr.ChannelID):
		return TestRunTicket{}, ErrChannelNotAllowed
	}
	who, echo := testRunRoot(tr)
	ts, err := r.cfg.Slack.PostPrompt(ctx, tr.ChannelID, who, echo)
	if err != nil {
		if slackpost.IsNotInChannel(err) {
			return TestRunTicket{}, fmt.Errorf("post the test run in %s: %s: %w", tr.ChannelID, cannotPostText(slackpost.SlackErrorCode(err)), err)
		}
		return TestRunTicket{}, fmt.Errorf("post the test run in %s: %w", tr.ChannelID, err)
	}
	key := slackbot.Key{TeamID: tr.TeamID, ChannelID: tr.ChannelID, RootTS: ts}
	agent := tr.AgentID
	if agent == "" {
		agent = r.cfg.Policy.AgentFor(tr.ChannelID)
	}
	jobID := "testrun:" + uuid.NewString()
	threadID, err := r.startConversation(ctx, key, agent, jobID, payload{UserID: tr.StartedBy, Text: tr.Text, TestRun: true, Report: true})
	if err != nil {
		return TestRunTicket{}, r.abandonTestRun(key, err)
	}
	r.log.Info("test run accepted", "job", jobID, "channel", tr.ChannelID, "thread_id", threadID, "agent", agent, "origin", tr.Origin)
	r.notify()
	return TestRunTicket{JobID: jobID, ThreadID: threadID, ChannelID: tr.ChannelID, RootTS: ts}, nil
}

// abandonTestRun says in the thread of a posted root message that the test
// run could not be recorded, so the channel is not left with a request
// nobody answers, and returns err.
func (r *Relay) abandonTestRun(key slackbot.Key, err error) error {
	r.log.Error("test run not recorded", "channel", key.ChannelID, "root_ts", key.RootTS, "err", err)
	r.background(func(ctx context.Context) error {
		_, perr := r.cfg.Slack.Post(ctx, key.ChannelID, key.RootTS, slackpost.Message{
			Text: ":warning: This test run could not be started (the bot's store is unavailable). Nothing was sent to the agent.",
		})
		return perr
	})
	return err
}

// testRunPoll is how often a waiting caller looks at the job.
const testRunPoll = 200 * time.Millisecond

// FollowTestRun follows a test run until it ends or ctx ends. It leases
// the run's job itself and works it here, so a lone `bot test-run` needs
// no running service; when a replica of the service leased it first, it
// waits for that replica and takes the job over if that replica's lease
// expires. When ctx ends first the lease is released, the result says
// "timeout" (ctx's deadline passed) or "interrupted" (ctx was cancelled),
// and any replica finishes the run in the thread.
func (r *Relay) FollowTestRun(ctx context.Context, t TestRunTicket) (TestRunResult, error) {
	leaser, canLease := r.cfg.Store.(JobLeaser)
	tick := time.NewTicker(testRunPoll)
	defer tick.Stop()
	for {
		job, err := r.cfg.Store.Job(ctx, t.JobID)
		switch {
		case ctx.Err() != nil:
			return r.timedOut(ctx, t), nil
		case err != nil:
			return TestRunResult{}, fmt.Errorf("read test run: %w", err)
		}
		if res, ended := testRunResult(t, job); ended {
			return res, nil
		}
		if canLease {
			leasedAt := time.Now()
			leased, err := leaser.LeaseJob(ctx, t.JobID, r.cfg.Owner, r.cfg.LeaseTTL)
			switch {
			case err == nil:
				r.work(ctx, leased, leasedAt)
				continue
			case ctx.Err() != nil:
				return r.timedOut(ctx, t), nil
			case !errors.Is(err, slackbot.ErrNoJob):
				r.log.Warn("lease test run", "job", t.JobID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return r.timedOut(ctx, t), nil
		case <-tick.C:
		}
	}
}

// timedOut reports a test run its caller stopped waiting for, with the run
// id if one was started.
func (r *Relay) timedOut(waited context.Context, t TestRunTicket) TestRunResult {
	status, why := TestRunTimeout, "timed out waiting for the run to end"
	if !errors.Is(waited.Err(), context.DeadlineExceeded) {
		status, why = TestRunInterrupted, "stopped waiting for the run to end (interrupted)"
	}
	res := TestRunResult{TestRunTicket: t, Status: status,
		Error: why + "; it goes on, and a running service (or the next one to start) posts its answer in the thread"}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(waited), 5*time.Second)
	defer cancel()
	if job, err := r.cfg.Store.Job(ctx, t.JobID); err == nil {
		res.RunID = job.RunID
	}
	return res
}

// testRunResult reports how a test run's job ended, if it did.
func testRunResult(t TestRunTicket, job slackbot.Job) (TestRunResult, bool) {
	res := TestRunResult{TestRunTicket: t, RunID: job.RunID}
	switch job.State {
	case slackbot.JobDone:
		p, err := decodePayload(job.Payload)
		if err != nil {
			res.Status, res.Error = TestRunError, err.Error()
			return res, true
		}
		res.Status, res.Answer = TestRunSuccess, p.Answer
	case slackbot.JobFailed:
		res.Status, res.Error = TestRunError, job.Error
	case slackbot.JobPaused:
		res.Status, res.Error = TestRunPaused, "the run paused for an approval: decide it on the card in the thread"
	default:
		return res, false
	}
	return res, true
}

// keepAnswer stores the final answer in the job when its requester waits
// for it outside Slack.
func keepAnswer(job *slackbot.Job, p payload, answer string) {
	if !p.Report {
		return
	}
	p.Answer = answer
	job.Payload = p.encode()
}

// testRunRoot is who started a test run and its prompt, for the channel
// message its conversation hangs off.
func testRunRoot(tr TestRun) (who, echo string) {
	origin := tr.Origin
	if origin == "" {
		origin = "an ops pipeline"
	}
	who = ":test_tube: Test run from " + slacktext.Truncate(slacktext.Escape(origin), 200) + ":"
	return who, slacktext.Escape(tr.Text)
}
