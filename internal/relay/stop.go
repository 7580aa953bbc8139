package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
)

// canStop reports whether the runtime lets runs be stopped: the Stop
// button is shown only then.
func (r *Relay) canStop() bool { return r.cfg.Agents.Capabilities().CanCancel() }

// stopJob stops the run of a job on behalf of user: only who started the
// run, ops and approvers may. The first stop is recorded in the store, so a
// double click or a click on another replica stops it once; the worker
// following the run then says who stopped it. It returns the refusal or
// confirmation to tell the user ("" for none).
func (r *Relay) stopJob(ctx context.Context, jobID, user, via string) (string, error) {
	res, err := r.stop(ctx, jobID, user, via)
	return res.text, err
}

// stopResult is what a stop attempt tells the user; again marks a stop the
// same user had already made.
type stopResult struct {
	text  string
	again bool
}

func (r *Relay) stop(ctx context.Context, jobID, user, via string) (stopResult, error) {
	log := r.log.With("job", jobID, "user", user, "via", via)
	job, err := r.cfg.Store.Job(ctx, jobID)
	switch {
	case errors.Is(err, slackbot.ErrNotFound):
		return stopResult{text: "This run is no longer known."}, nil
	case err != nil:
		return stopResult{}, fmt.Errorf("load job to stop: %w", err)
	case job.Final():
		// A second click that arrives after the stopped run was wrapped
		// up is still a repeat of the stop, not news that the run ended.
		if st, err := r.cfg.Store.StopOf(ctx, job.ID); err == nil && st.RunID == job.RunID {
			return stopResult{text: "<@" + st.StoppedBy + "> already stopped this run.", again: st.StoppedBy == user}, nil
		}
		return stopResult{text: alreadyFinishedText}, nil
	case job.State == slackbot.JobPaused:
		return stopResult{text: "This run is waiting for an approval; reject the request to stop it."}, nil
	}
	p, err := decodePayload(job.Payload)
	if err != nil {
		return stopResult{}, err
	}
	if !r.cfg.Policy.MayDecide(user, p.UserID) {
		log.Info("stop refused")
		return stopResult{text: "Only <@" + p.UserID + "> (who started this run), ops users or approvers can stop it."}, nil
	}
	if job.RunID == "" || job.RunID == unknownRunID {
		return stopResult{text: "The run is still starting; try again in a moment."}, nil
	}
	st, first, err := r.cfg.Store.RecordStop(ctx, slackbot.Stop{JobID: job.ID, RunID: job.RunID, StoppedBy: user, StoppedAt: r.cfg.Now()})
	if err != nil {
		return stopResult{}, fmt.Errorf("record stop: %w", err)
	}
	if !first {
		return stopResult{text: "<@" + st.StoppedBy + "> already stopped this run.", again: st.StoppedBy == user}, nil
	}
	// The stop is durable: the cancel goes out off the ack path, so a slow
	// runtime cannot make Slack redeliver the click or the event.
	r.background(func(ctx context.Context) error {
		r.cancelStopped(ctx, log, job, st)
		return nil
	})
	return stopResult{}, nil
}

// cancelStopped asks the runtime to cancel a stopped job's run. When it
// cannot, the stop is withdrawn — the run goes on, or has ended on its own,
// and its reply must not say it was stopped — and the user is told why.
func (r *Relay) cancelStopped(ctx context.Context, log *slog.Logger, job slackbot.Job, st slackbot.Stop) {
	err := r.cfg.Agents.CancelRun(ctx, job.ThreadID, job.RunID)
	if err == nil {
		r.metrics.RunStopped()
		log.Info("run stopped", "run_id", job.RunID)
		return
	}
	log.Warn("cancel run", "err", err, "status", agents.ErrorStatus(err))
	if _, werr := r.cfg.Store.WithdrawStop(ctx, st); werr != nil {
		// The worker still checks the run's own status before it says
		// the run was stopped.
		log.Error("withdraw stop after a failed cancel", "err", werr)
	}
	text := "I couldn't stop the run: the agent runtime refused. It may finish on its own."
	switch {
	case agents.IsRunNotFound(err):
		text = alreadyFinishedText
	case agents.IsStreamUnsupported(err):
		text = "This agent runtime doesn't let me stop runs, sorry."
	}
	r.tell(job.Key.ChannelID, st.StoppedBy, text)
}

const alreadyFinishedText = "This run has already finished."

// AgentSessionStopped handles Slack's own Stop in an AI app thread (the
// agent_session_stopped event): the thread's current run is stopped as the
// Stop button would, with the same rules. Slack has already halted the
// streamed reply; the worker finishes it with chat.update.
func (r *Relay) AgentSessionStopped(ctx context.Context, s slackbot.SessionStop) error {
	log := r.log.With("event_id", s.EventID, "channel", s.ChannelID, "thread_ts", s.ThreadTS, "user", s.UserID)
	key := slackbot.Key{TeamID: s.TeamID, ChannelID: s.ChannelID, RootTS: s.ThreadTS}
	job, err := r.cfg.Store.CurrentJob(ctx, slackbot.ThreadID(key))
	if errors.Is(err, slackbot.ErrNotFound) {
		// The run ended on its own as the user pressed Stop: its answer stands.
		log.Info("Slack's stop found no open run in the thread")
		return nil
	}
	if err != nil {
		return fmt.Errorf("find the run to stop: %w", err)
	}
	res, err := r.stop(ctx, job.ID, s.UserID, "slack")
	if err != nil {
		return err
	}
	// A redelivered event (or a second press) by the same user needs no
	// "you already stopped it".
	if res.text != "" && !res.again {
		r.tell(s.ChannelID, s.UserID, res.text)
	}
	return nil
}

// stoppedBy returns who stopped a job's run, if anyone did and the stop
// took: a run the runtime reports succeeded ended on its own before the
// cancel reached it, and keeps its answer.
func (r *Relay) stoppedBy(ctx context.Context, log *slog.Logger, job slackbot.Job) (string, bool) {
	st, err := r.cfg.Store.StopOf(ctx, job.ID)
	if err != nil {
		if !errors.Is(err, slackbot.ErrNotFound) {
			log.Warn("look up stop", "err", err)
		}
		return "", false
	}
	if st.RunID != job.RunID {
		return "", false
	}
	// Where the run cannot be read the stop stands: it was recorded and
	// its cancel was not refused (a refused one is withdrawn).
	if run, err := r.cfg.Agents.GetRun(ctx, job.ThreadID, job.RunID); err == nil && run.Status == agents.RunSuccess {
		log.Info("the run succeeded before its stop took; its answer stands", "stopped_by", st.StoppedBy)
		return "", false
	}
	return st.StoppedBy, true
}

// stoppedText is the reply of a stopped run: who stopped it, then what it
// produced so far.
func stoppedText(user, produced string) string {
	text := ":octagonal_sign: Stopped by <@" + user + ">."
	if produced == "" {
		return text + " The agent had not written anything yet."
	}
	return text + " What it produced so far:\n\n" + produced
}

// finishStopped ends a stopped run's reply: who stopped it and what the
// agent produced until then. The job is done: the conversation goes on.
func (r *Relay) finishStopped(ctx context.Context, log *slog.Logger, job *slackbot.Job, p payload, live LiveReply, by string, out outcome) error {
	produced := out.answer
	if produced == "" {
		produced = out.shown
	}
	err := live.Finish(ctx, stoppedText(by, produced), job.Delivered, func(delivered int) error {
		job.Delivered = delivered
		return r.saveDone(ctx, job)
	})
	if err != nil {
		return fmt.Errorf("deliver stopped reply: %w", err)
	}
	r.metrics.RunFinished("stopped")
	job.State = slackbot.JobDone
	if err := r.save(ctx, job); err != nil {
		return err
	}
	log.Info("stopped run's reply delivered", "stopped_by", by)
	r.afterRun(*job, p, reactStopped)
	return nil
}
