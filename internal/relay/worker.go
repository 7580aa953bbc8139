package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// work runs one leased job to its next resting state. A lease lost to
// another worker, or shutdown, stops it quietly: whoever holds the job next
// continues from what was saved. Any other failure ends this attempt: a
// permanent one, or the last allowed attempt, ends the job (giveUp); else
// the job is tried again after a backoff. leasedAt is when the lease
// request began, the earliest time the lease can have been granted.
func (r *Relay) work(ctx context.Context, job slackbot.Job, leasedAt time.Time) {
	jctx, cancel := context.WithCancelCause(ctx)
	l := r.leases.hold(jctx, cancel, job, leasedAt)
	defer func() {
		cancel(nil)
		r.leases.release(l)
	}()

	log := r.log.With("job", job.ID, "thread_id", job.ThreadID, "attempt", job.Attempts)
	if job.Attempts > maxAttempts {
		// Every earlier attempt ended without a verdict (crashes, lost
		// leases): stop here rather than hold the conversation up forever.
		r.giveUp(jctx, log, job, gaveUpAttempts, fmt.Errorf("%d attempts", job.Attempts-1))
		return
	}
	var err error
	switch job.Kind {
	case kindCommand:
		err = r.workCommand(jctx, log, job)
	case kindPrompt, kindResume:
		err = r.workRun(jctx, log, job)
	default:
		err = fmt.Errorf("unknown job kind %q: %w", job.Kind, errPermanent)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Shutting down: hand the job over at once.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := r.cfg.Store.ReleaseLease(rctx, job.ID, job.LeaseOwner); rerr != nil && !errors.Is(rerr, slackbot.ErrLeaseLost) {
			log.Warn("release lease", "err", rerr)
		}
		rcancel()
	case errors.Is(err, slackbot.ErrLeaseLost) || jctx.Err() != nil:
		log.Warn("lease lost; another worker continues the job", "err", context.Cause(jctx))
	case isPermanent(err):
		r.giveUp(ctx, log, job, gaveUpPermanent, err)
	case job.Attempts >= maxAttempts:
		r.giveUp(ctx, log, job, gaveUpAttempts, err)
	default:
		r.leases.release(l) // stop renewing before the lease is shortened to the backoff
		r.retryLater(ctx, log, job, err)
	}
}

// save stores the job's worker-owned fields under the job's own lease.
func (r *Relay) save(ctx context.Context, job *slackbot.Job) error {
	if err := r.cfg.Store.UpdateJob(ctx, *job); err != nil {
		return fmt.Errorf("save job %s: %w", job.ID, err)
	}
	return nil
}

// saveDone saves a job right after a step that cannot be undone (a Slack
// post, a run start), even when shutdown cancelled ctx meanwhile: the next
// owner of the job must not repeat the step.
func (r *Relay) saveDone(ctx context.Context, job *slackbot.Job) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return r.save(sctx, job)
}

// workCommand posts the root message of a slash command's conversation and
// records the prompt job that runs in its thread.
func (r *Relay) workCommand(ctx context.Context, log *slog.Logger, job slackbot.Job) error {
	p, err := decodePayload(job.Payload)
	if err != nil {
		job.State, job.Error = slackbot.JobFailed, err.Error()
		return r.save(ctx, &job)
	}
	if job.ReplyTS == "" {
		who, echo := rootPrompt(p)
		ts, err := r.cfg.Slack.PostPrompt(ctx, job.Key.ChannelID, who, echo)
		if err != nil {
			if slackpost.IsNotInChannel(err) || job.Attempts >= maxAttempts {
				log.Warn("cannot post root message", "err", err)
				text := cannotPostText(slackpost.SlackErrorCode(err))
				if !slackpost.IsNotInChannel(err) {
					text = "Sorry, I couldn't post your request in this channel (" + slacktext.Escape(shortErr(err)) + ")."
				}
				if p.ResponseURL != "" {
					if rerr := r.cfg.Slack.Respond(ctx, p.ResponseURL, text); rerr != nil {
						log.Warn("respond via response_url", "err", rerr)
					}
				}
				job.State, job.Error = slackbot.JobFailed, err.Error()
				return r.save(ctx, &job)
			}
			return fmt.Errorf("post root message: %w", err)
		}
		job.ReplyTS = ts
		if err := r.saveDone(ctx, &job); err != nil {
			return err
		}
	}
	key := slackbot.Key{TeamID: job.Key.TeamID, ChannelID: job.Key.ChannelID, RootTS: job.ReplyTS}
	next := p
	next.MessageTS = ""
	threadID, err := r.startConversation(ctx, key, r.cfg.Policy.AgentFor(key.ChannelID), "run:"+job.ID, next)
	if err != nil {
		return err
	}
	job.State = slackbot.JobDone
	if err := r.save(ctx, &job); err != nil {
		return err
	}
	log.Info("conversation started", "thread_id", threadID, "root_ts", key.RootTS)
	r.notify()
	return nil
}

// workRun starts (or resumes) the run of a prompt or resume job, follows it
// and delivers its outcome: each step below returns early when it ended
// the job (or this attempt).
func (r *Relay) workRun(ctx context.Context, log *slog.Logger, job slackbot.Job) error {
	p, err := decodePayload(job.Payload)
	if err != nil {
		job.State, job.Error = slackbot.JobFailed, err.Error()
		return r.save(ctx, &job)
	}
	conv, err := r.cfg.Store.Conversation(ctx, job.Key)
	if err != nil {
		return fmt.Errorf("load conversation: %w", err)
	}
	live := r.newLive(job, p)
	defer live.Close()

	orphan, err := r.recoverRunStart(ctx, log, &job, conv, p)
	if errors.Is(err, errUnprovableStart) {
		log.Warn("cannot tell whether an earlier run start reached the runtime; not starting it again")
		return r.finishFailed(ctx, &job, p, live, unprovableStartText)
	}
	if err != nil {
		return err
	}
	// The run is followed for at most MaxRunAge from its start, the start
	// itself included (a runtime that answers a run start and then stays
	// silent must not hold the job); then the user is told and the
	// conversation moves on.
	needStart := job.RunID == "" && !orphan
	if needStart {
		p.RunStartedAt = r.cfg.Now().UTC()
	}
	started := p.RunStartedAt
	if started.IsZero() {
		started = r.cfg.Now()
	}
	fctx, fcancel := context.WithDeadline(ctx, started.Add(r.cfg.MaxRunAge))
	defer fcancel()
	var stream *agents.Stream // the run's own stream, when it was started streaming
	if needStart {
		var ended bool
		stream, ended, err = r.beginRun(ctx, fctx, log, &job, conv, p, live)
		if ended || err != nil {
			return err
		}
		if stream != nil {
			defer stream.Close()
		}
	}
	log = log.With("run_id", job.RunID)
	out, err := r.followRun(fctx, log, &job, live, stream, orphan)
	if err != nil && ctx.Err() == nil && fctx.Err() != nil {
		r.metrics.RunFinished("error")
		r.metrics.JobGaveUp(gaveUpRunAge, "thread")
		log.Warn("run outlived the maximum run age; no longer following it", "max_run_age", r.cfg.MaxRunAge)
		return r.finishFailed(ctx, &job, p, live, runAgeText(r.cfg.MaxRunAge))
	}
	if err != nil {
		return err
	}
	return r.finishRun(ctx, log, &job, conv, p, live, out)
}

// newLive is the job's live reply in its Slack thread (the one an earlier
// attempt posted, if any).
func (r *Relay) newLive(job slackbot.Job, p payload) LiveReply {
	return r.cfg.Slack.NewLive(job.Key.ChannelID, job.Key.RootTS, slackpost.LiveOptions{
		RecipientUserID: p.UserID,
		RecipientTeamID: cmp.Or(p.UserTeam, job.Key.TeamID), // Slack Connect users belong to their own team
		ExistingTS:      job.ReplyTS,
		Streaming:       r.cfg.Streaming,
		Placeholder:     placeholderFor(job.Kind),
		Status:          true, // AI-app status in every thread the bot works in
		FeedbackJobID:   job.ID,
		StopJobID:       job.ID,
		CanStop:         r.canStop,
	})
}

// errUnprovableStart: an earlier run start may or may not have reached a
// runtime that cannot say which.
var errUnprovableStart = errors.New("cannot tell whether the run started")

// recoverRunStart handles a previous attempt that sent the run start and
// got no readable answer, or stopped before it saved the run id: the run
// may exist. Starting another would run the prompt twice, so the runtime
// is asked first. A run found with its id is recorded on the job; orphan
// reports a run that exists but whose id the runtime does not tell, which
// is then followed through its thread.
func (r *Relay) recoverRunStart(ctx context.Context, log *slog.Logger, job *slackbot.Job, conv slackbot.Conversation, p payload) (orphan bool, err error) {
	if job.RunID != "" || job.State != slackbot.JobStarting {
		return false, nil
	}
	runID, started, proven, err := r.findStartedRun(ctx, conv.ThreadID, p, r.runMetadata(conv, p))
	switch {
	case err != nil:
		return false, err
	case !proven:
		return false, errUnprovableStart
	case started && runID != "":
		log.Info("found the run an earlier attempt started", "run_id", runID)
		job.RunID, job.State = runID, slackbot.JobRunning
		return false, r.save(ctx, job)
	}
	return started, nil
}

// beginRun posts the live reply and starts the run, saving the job at each
// step that cannot be repeated. ended reports that the job (or this
// attempt) ended here, with err as its result; otherwise the run is
// started and stream is its own stream, if it was started streaming. fctx
// bounds the runtime calls by the run's age.
func (r *Relay) beginRun(ctx, fctx context.Context, log *slog.Logger, job *slackbot.Job, conv slackbot.Conversation, p payload, live LiveReply) (stream *agents.Stream, ended bool, err error) {
	if job.ReplyTS == "" {
		if p.Queued {
			r.unreact(job.Key.ChannelID, p.MessageTS, reactQueued)
		}
		r.react(job.Key.ChannelID, p.MessageTS, reactWorking)
	}
	ts, err := live.Start(ctx)
	if err != nil {
		if slackpost.IsNotInChannel(err) || job.Attempts >= maxAttempts {
			log.Warn("cannot post in thread; giving up", "err", err)
			job.State, job.Error = slackbot.JobFailed, err.Error()
			return nil, true, r.save(ctx, job)
		}
		return nil, true, fmt.Errorf("post live reply: %w", err)
	}
	// Nothing is sent to the runtime yet: the job is "accepted" until the
	// run start itself goes out.
	job.ReplyTS, job.State = ts, slackbot.JobAccepted
	job.Payload = p.encode()
	if err := r.saveDone(ctx, job); err != nil {
		return nil, true, err
	}
	seed, err := r.prepareRun(fctx, conv, p)
	if err != nil {
		return nil, true, r.runNotStarted(ctx, log, job, p, live, err)
	}
	job.State = slackbot.JobStarting
	if err := r.save(ctx, job); err != nil {
		return nil, true, err
	}
	var input *agents.Input
	if p.Resume == nil {
		input = r.runInput(fctx, log, *job, p)
	}
	run, err := r.startRun(fctx, log, conv, *job, p, seed, input)
	if err == nil && run.runID == "" {
		err = fmt.Errorf("run start answered without a run id: %w", agents.ErrOutcomeUnknown)
	}
	if err != nil {
		if errors.Is(err, agents.ErrOutcomeUnknown) {
			// The request may have reached the runtime: the job stays
			// "starting" and the next attempt looks for the run.
			return nil, true, fmt.Errorf("run start without an answer: %w: %w", errRuntime, err)
		}
		return nil, true, r.runNotStarted(ctx, log, job, p, live, err)
	}
	job.RunID, job.State = run.runID, slackbot.JobRunning
	if err := r.saveDone(ctx, job); err != nil {
		if run.stream != nil {
			run.stream.Close()
		}
		return nil, true, err
	}
	r.metrics.RunStarted()
	// Learn, off the run's path, whether runs can be stopped here before
	// the Stop button is offered (a no-op once known).
	if r.cfg.Agents.Capabilities().Cancel == agents.Unknown {
		r.background(func(ctx context.Context) error {
			r.cfg.Agents.ProbeCancel(ctx, conv.ThreadID)
			return nil
		})
	}
	log.Info("run started", "run_id", run.runID, "streaming", run.stream != nil)
	return run.stream, false, nil
}

// followRun follows the run to its end: its stream (or a join of it), or,
// for an orphan, its thread.
func (r *Relay) followRun(ctx context.Context, log *slog.Logger, job *slackbot.Job, live LiveReply, stream *agents.Stream, orphan bool) (outcome, error) {
	r.metrics.RunsInFlight(1)
	defer r.metrics.RunsInFlight(-1)
	if orphan {
		log.Warn("taking over a run start whose run id is unknown; following its thread")
		return r.awaitRun(ctx, log, *job, live, agents.RunView{})
	}
	// follow saves the stream's resume point into job as it goes.
	return r.follow(ctx, log, job, live, stream)
}

// finishRun brings a followed run's outcome into the thread: stopped,
// failed, paused for an approval, or answered.
func (r *Relay) finishRun(ctx context.Context, log *slog.Logger, job *slackbot.Job, conv slackbot.Conversation, p payload, live LiveReply, out outcome) error {
	if by, ok := r.stoppedBy(ctx, log, *job); ok {
		return r.finishStopped(ctx, log, job, p, live, by, out)
	}
	switch {
	case out.failure != "":
		r.metrics.RunFinished("error")
		return r.finishFailed(ctx, job, p, live, out.failure)
	case out.interrupt != nil:
		r.metrics.RunFinished("interrupted")
		return r.pause(ctx, log, job, conv, p, live, out)
	}
	r.metrics.RunFinished("success")
	answer := out.answer
	if answer == "" {
		// Only said when the bot read the whole run: a run it could not
		// read ends in out.failure instead.
		answer = "_The agent finished without a written answer._"
	}
	err := live.Finish(ctx, answer, job.Delivered, func(delivered int) error {
		job.Delivered = delivered
		return r.saveDone(ctx, job)
	})
	if err != nil {
		return fmt.Errorf("deliver answer: %w", err)
	}
	r.shareOutputs(ctx, log, *job)
	job.State = slackbot.JobDone
	keepAnswer(job, p, out.answer)
	if err := r.save(ctx, job); err != nil {
		return err
	}
	log.Info("answer delivered", "parts", job.Delivered)
	r.afterRun(*job, p, reactDone)
	return nil
}

// runNotStarted handles a run start that provably did not happen (the
// request was never sent, or the runtime refused it): the job goes back to
// "accepted" so that its next attempt starts the run, after the usual
// backoff. A permanent error, or the last attempt, ends it with a note.
func (r *Relay) runNotStarted(ctx context.Context, log *slog.Logger, job *slackbot.Job, p payload, live LiveReply, err error) error {
	job.State = slackbot.JobAccepted
	if serr := r.saveDone(ctx, job); serr != nil {
		return serr
	}
	if ctx.Err() == nil && (isPermanent(err) || job.Attempts >= maxAttempts) {
		reason := gaveUpPermanent
		if !isPermanent(err) {
			reason = gaveUpAttempts
		}
		log.Warn("run start failed; giving up", "err", err, "status", agents.ErrorStatus(err), "reason", reason)
		if ferr := r.finishFailed(ctx, job, p, live, failureText(err)); ferr != nil {
			return ferr
		}
		r.metrics.JobGaveUp(reason, "thread")
		return nil
	}
	return fmt.Errorf("run not started: %w: %w", errRuntime, err)
}

// unprovableStartText is the failure note when an earlier run start may
// or may not have reached a runtime that cannot list a thread's runs.
const unprovableStartText = "The connection to the agent runtime dropped while starting the run, and this runtime doesn't let me check whether it started. I did not retry, to avoid running it twice: please ask again if no answer appears in LangSmith."

func placeholderFor(kind string) string {
	if kind == kindResume {
		return ":hourglass_flowing_sand: Resuming…"
	}
	return ":hourglass_flowing_sand: Working on it…"
}

// finishFailed ends the live reply with a clear failure note and marks the
// job failed.
func (r *Relay) finishFailed(ctx context.Context, job *slackbot.Job, p payload, live LiveReply, text string) error {
	if err := live.Fail(ctx, text); err != nil {
		if job.Attempts < maxAttempts {
			return fmt.Errorf("post failure note: %w", err)
		}
		r.log.Error("post failure note; giving up", "job", job.ID, "err", err)
	}
	job.State, job.Error = slackbot.JobFailed, truncate(text, 1000)
	if err := r.save(ctx, job); err != nil {
		return err
	}
	r.afterRun(*job, p, reactFailed)
	return nil
}

// afterRun updates the user's message reactions (the live reply cleared the
// AI-app status).
func (r *Relay) afterRun(job slackbot.Job, p payload, reaction string) {
	r.unreact(job.Key.ChannelID, p.MessageTS, reactWorking)
	r.react(job.Key.ChannelID, p.MessageTS, reaction)
	r.notify() // the conversation's next job may be waiting on this one
}
