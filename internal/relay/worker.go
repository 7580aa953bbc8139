package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// maxAttempts bounds how often a job is retried after transient failures
// (store or Slack errors) before the user is told it failed.
const maxAttempts = 8

// work runs one leased job to its next resting state. A lease lost to
// another replica, or shutdown, stops it quietly: whoever holds the job next
// continues from what was saved.
func (r *Relay) work(ctx context.Context, job threadmap.Job) {
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.keepLease(jctx, cancel, job.ID)

	log := r.log.With("job", job.ID, "thread_id", job.ThreadID, "attempt", job.Attempts)
	var err error
	switch job.Kind {
	case kindCommand:
		err = r.workCommand(jctx, log, job)
	case kindPrompt, kindResume:
		err = r.workRun(jctx, log, job)
	default:
		err = fmt.Errorf("unknown job kind %q", job.Kind)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Shutting down: hand the job over at once.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := r.cfg.Store.ReleaseLease(rctx, job.ID, r.cfg.Owner); rerr != nil && !errors.Is(rerr, threadmap.ErrLeaseLost) {
			log.Warn("release lease", "err", rerr)
		}
		rcancel()
	case errors.Is(err, threadmap.ErrLeaseLost) || jctx.Err() != nil:
		log.Warn("lease lost; another worker continues the job")
	default:
		// Transient: the lease expires and the job is retried then.
		log.Error("job failed; will retry", "err", err)
	}
}

// keepLease renews the job's lease until ctx ends; losing it cancels the job.
func (r *Relay) keepLease(ctx context.Context, cancel context.CancelFunc, id string) {
	t := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := r.cfg.Store.RenewLease(ctx, id, r.cfg.Owner, r.cfg.LeaseTTL)
			if errors.Is(err, threadmap.ErrLeaseLost) {
				cancel()
				return
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("renew lease", "job", id, "err", err)
			}
		}
	}
}

func (r *Relay) save(ctx context.Context, job *threadmap.Job) error {
	job.LeaseOwner = r.cfg.Owner
	if err := r.cfg.Store.UpdateJob(ctx, *job); err != nil {
		return fmt.Errorf("save job %s: %w", job.ID, err)
	}
	return nil
}

// saveDone saves a job right after a step that cannot be undone (a Slack
// post, a run start), even when shutdown cancelled ctx meanwhile: the next
// owner of the job must not repeat the step.
func (r *Relay) saveDone(ctx context.Context, job *threadmap.Job) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return r.save(sctx, job)
}

// workCommand posts the root message of a slash command's conversation and
// records the prompt job that runs in its thread.
func (r *Relay) workCommand(ctx context.Context, log *slog.Logger, job threadmap.Job) error {
	p, err := decodePayload(job.Payload)
	if err != nil {
		job.State, job.Error = threadmap.JobFailed, err.Error()
		return r.save(ctx, &job)
	}
	if job.ReplyTS == "" {
		ts, err := r.cfg.Slack.Post(ctx, job.Key.ChannelID, "", rootMessage(p))
		if err != nil {
			if slackpost.IsNotInChannel(err) || job.Attempts >= maxAttempts {
				log.Warn("cannot post root message", "err", err)
				text := cannotPostText(slackpost.SlackErrorCode(err))
				if !slackpost.IsNotInChannel(err) {
					text = "Sorry, I couldn't post your request in this channel (" + shortErr(err) + ")."
				}
				if p.ResponseURL != "" {
					if rerr := r.cfg.Slack.Respond(ctx, p.ResponseURL, text); rerr != nil {
						log.Warn("respond via response_url", "err", rerr)
					}
				}
				job.State, job.Error = threadmap.JobFailed, err.Error()
				return r.save(ctx, &job)
			}
			return fmt.Errorf("post root message: %w", err)
		}
		job.ReplyTS = ts
		if err := r.saveDone(ctx, &job); err != nil {
			return err
		}
	}
	key := threadmap.Key{TeamID: job.Key.TeamID, ChannelID: job.Key.ChannelID, RootTS: job.ReplyTS}
	conv, err := r.cfg.Store.BindConversation(ctx, threadmap.Conversation{
		Key:       key,
		ThreadID:  threadmap.ThreadID(key),
		AgentID:   r.cfg.Policy.AgentFor(key.ChannelID),
		Options:   r.cfg.Policy.OptionsFor(key.ChannelID, p.TestRun),
		StartedBy: p.UserID,
		CreatedAt: r.cfg.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("bind conversation: %w", err)
	}
	next := p
	next.MessageTS = ""
	if _, err := r.cfg.Store.AddJob(ctx, threadmap.Job{
		ID:       "run:" + job.ID,
		Key:      key,
		ThreadID: conv.ThreadID,
		Kind:     kindPrompt,
		State:    threadmap.JobAccepted,
		Payload:  next.encode(),
	}); err != nil {
		return fmt.Errorf("record prompt: %w", err)
	}
	job.State = threadmap.JobDone
	if err := r.save(ctx, &job); err != nil {
		return err
	}
	log.Info("conversation started", "thread_id", conv.ThreadID, "root_ts", key.RootTS)
	r.notify()
	return nil
}

// rootMessage is the channel message a slash command's conversation hangs off.
func rootMessage(p payload) slackpost.Message {
	who := "<@" + p.UserID + "> asked:"
	if p.TestRun {
		who = ":test_tube: <@" + p.UserID + "> started a test run:"
	}
	quoted := "> " + escapeMrkdwn(truncate(p.Text, 2800))
	return slackpost.Message{
		Text: who + " " + truncate(p.Text, 200),
		Blocks: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, who+"\n"+quotedLines(quoted), false, false), nil, nil),
		},
	}
}

// workRun starts (or resumes) the run of a prompt or resume job, follows it
// and delivers its outcome.
func (r *Relay) workRun(ctx context.Context, log *slog.Logger, job threadmap.Job) error {
	p, err := decodePayload(job.Payload)
	if err != nil {
		job.State, job.Error = threadmap.JobFailed, err.Error()
		return r.save(ctx, &job)
	}
	conv, err := r.cfg.Store.Conversation(ctx, job.Key)
	if err != nil {
		return fmt.Errorf("load conversation: %w", err)
	}
	recipient := p.UserID
	live := r.cfg.Slack.NewLive(job.Key.ChannelID, job.Key.RootTS, slackpost.LiveOptions{
		RecipientUserID: recipient,
		RecipientTeamID: job.Key.TeamID,
		ExistingTS:      job.ReplyTS,
		Streaming:       r.cfg.Streaming,
		Placeholder:     placeholderFor(job.Kind),
	})
	defer live.Close()

	// A previous attempt sent the run start and stopped before it saved the
	// run id: the run may exist. Starting another would run the prompt
	// twice, so the thread is asked first and, if the run is there, followed.
	orphan := false
	var stream *agents.Stream // the run's own stream, when it was started streaming
	if job.RunID == "" && job.State == threadmap.JobStarting {
		if orphan, err = r.startedUnrecorded(ctx, conv.ThreadID, p); err != nil {
			return err
		}
	}
	if job.RunID == "" && !orphan {
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
				job.State, job.Error = threadmap.JobFailed, err.Error()
				return r.save(ctx, &job)
			}
			return fmt.Errorf("post live reply: %w", err)
		}
		job.ReplyTS, job.State = ts, threadmap.JobStarting
		if err := r.saveDone(ctx, &job); err != nil {
			return err
		}
		if p.ChannelType == "im" {
			// After the placeholder: Slack clears the status when the app
			// posts in the thread.
			r.assistantStatus(job.Key.ChannelID, job.Key.RootTS, "is thinking…")
		}
		run, err := r.startRun(ctx, log, conv, job, p)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("run start failed", "err", err, "status", agents.ErrorStatus(err))
			return r.finishFailed(ctx, &job, p, live, failureText(err))
		}
		stream = run.stream
		if stream != nil {
			defer stream.Close()
		}
		job.RunID, job.State = run.runID, threadmap.JobRunning
		if err := r.saveDone(ctx, &job); err != nil {
			return err
		}
		r.metrics.RunStarted()
		log.Info("run started", "run_id", run.runID, "streaming", stream != nil)
	}
	log = log.With("run_id", job.RunID)
	r.metrics.RunsInFlight(1)
	defer r.metrics.RunsInFlight(-1)

	var out outcome
	if orphan {
		log.Warn("taking over a run start whose run id was not saved; following its thread")
		out, err = r.awaitRun(ctx, log, job, live, agents.RunView{})
	} else {
		out, err = r.follow(ctx, log, job, live, stream)
	}
	if err != nil {
		return err
	}
	switch {
	case out.failure != "":
		r.metrics.RunFinished("error")
		return r.finishFailed(ctx, &job, p, live, out.failure)
	case out.interrupt != nil:
		r.metrics.RunFinished("interrupted")
		return r.pause(ctx, log, &job, conv, p, live, out)
	}
	r.metrics.RunFinished("success")
	answer := out.answer
	if answer == "" {
		// Only said when the bot read the whole run: a run it could not
		// read ends in out.failure instead.
		answer = "_The agent finished without a written answer._"
	}
	err = live.Finish(ctx, answer, job.Delivered, func(delivered int) error {
		job.Delivered = delivered
		return r.saveDone(ctx, &job)
	})
	if err != nil {
		return fmt.Errorf("deliver answer: %w", err)
	}
	job.State = threadmap.JobDone
	keepAnswer(&job, p, out.answer)
	if err := r.save(ctx, &job); err != nil {
		return err
	}
	log.Info("answer delivered", "parts", job.Delivered)
	r.afterRun(job, p, reactDone)
	return nil
}

// startedUnrecorded reports whether the run a job's previous attempt tried
// to start exists. Jobs of a conversation run one at a time, so a busy
// thread is running this job's run; an idle one holds it when its last
// input is this job's (for a resume: when it is no longer interrupted).
func (r *Relay) startedUnrecorded(ctx context.Context, threadID string, p payload) (bool, error) {
	th, err := r.cfg.Agents.GetThread(ctx, threadID)
	if agents.ErrorStatus(err) == http.StatusNotFound {
		return false, nil // no thread: nothing started
	}
	if err != nil {
		return false, fmt.Errorf("check for a run started before: %w", err)
	}
	switch {
	case th.Status == agents.ThreadBusy:
		return true, nil
	case p.Resume != nil:
		return th.Status != agents.ThreadInterrupted, nil
	}
	values, ok := r.threadValues(ctx, th)
	if !ok {
		// Nothing to compare with: an idle thread after a start that may
		// or may not have happened. Starting again risks a second run;
		// following nothing risks silence. The run start is retried, as
		// before, which shows the user an answer either way.
		return false, nil
	}
	return agents.LastHumanText(values) == p.Text, nil
}

func placeholderFor(kind string) string {
	if kind == kindResume {
		return ":hourglass_flowing_sand: Resuming…"
	}
	return ":hourglass_flowing_sand: Working on it…"
}

// finishFailed ends the live reply with a clear failure note and marks the
// job failed.
func (r *Relay) finishFailed(ctx context.Context, job *threadmap.Job, p payload, live *slackpost.Live, text string) error {
	if err := live.Fail(ctx, text); err != nil {
		if job.Attempts < maxAttempts {
			return fmt.Errorf("post failure note: %w", err)
		}
		r.log.Error("post failure note; giving up", "job", job.ID, "err", err)
	}
	job.State, job.Error = threadmap.JobFailed, truncate(text, 1000)
	if err := r.save(ctx, job); err != nil {
		return err
	}
	r.afterRun(*job, p, reactFailed)
	return nil
}

// afterRun updates the user's message reactions and clears the AI app status.
func (r *Relay) afterRun(job threadmap.Job, p payload, reaction string) {
	r.unreact(job.Key.ChannelID, p.MessageTS, reactWorking)
	r.react(job.Key.ChannelID, p.MessageTS, reaction)
	if p.ChannelType == "im" {
		r.assistantStatus(job.Key.ChannelID, job.Key.RootTS, "")
	}
	r.notify() // the conversation's next job may be waiting on this one
}

// assistantStatus shows (or clears, with "") the AI app's "thinking"
// status in a DM thread. Slack refuses it in DMs that are not AI app
// threads; that is expected, so it is only logged at debug level.
func (r *Relay) assistantStatus(channel, threadTS, status string) {
	r.courtesy.do("status:"+channel+":"+threadTS, slog.LevelDebug, func(ctx context.Context) error {
		return r.cfg.Slack.SetAssistantStatus(ctx, channel, threadTS, status)
	})
}
