package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// stopActionID names the Stop button on a live reply; its value is the
// job's id.
const stopActionID = "run_stop"

// stopButton is the Stop button of a running job's live reply.
func stopButton(jobID string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(stopActionID, jobID, slack.NewTextBlockObject(slack.PlainTextType, "Stop", false, false))
	b.Style = slack.StyleDanger
	return b
}

// stopControls are the live reply's controls: the Stop button, shown only
// where the runtime lets runs be stopped.
func (r *Relay) stopControls(jobID string) func() []slack.Block {
	return func() []slack.Block {
		if !r.cfg.Agents.Capabilities().CanCancel() {
			return nil
		}
		return []slack.Block{slack.NewActionBlock("run_controls", stopButton(jobID))}
	}
}

// stopJob stops the run of a job on behalf of user: only who started the
// run, ops and approvers may. The first stop is recorded in the store, so a
// double click or a click on another replica stops it once; the worker
// following the run then says who stopped it. It returns the refusal or
// confirmation to tell the user ("" for none).
func (r *Relay) stopJob(ctx context.Context, jobID, user, via string) (string, error) {
	log := r.log.With("job", jobID, "user", user, "via", via)
	job, err := r.cfg.Store.Job(ctx, jobID)
	switch {
	case errors.Is(err, threadmap.ErrNotFound):
		return "This run is no longer known.", nil
	case err != nil:
		return "", fmt.Errorf("load job to stop: %w", err)
	case job.Final():
		return "This run has already finished.", nil
	case job.State == threadmap.JobPaused:
		return "This run is waiting for an approval; reject the request to stop it.", nil
	}
	p, err := decodePayload(job.Payload)
	if err != nil {
		return "", err
	}
	if !r.cfg.Policy.MayDecide(user, p.UserID) {
		log.Info("stop refused")
		return "Only <@" + p.UserID + "> (who started this run), ops users or approvers can stop it.", nil
	}
	if job.RunID == "" || job.RunID == unknownRunID {
		return "The run is still starting; try again in a moment.", nil
	}
	st, first, err := r.cfg.Store.RecordStop(ctx, threadmap.Stop{JobID: job.ID, RunID: job.RunID, StoppedBy: user, StoppedAt: r.cfg.Now()})
	if err != nil {
		return "", fmt.Errorf("record stop: %w", err)
	}
	if !first {
		return "<@" + st.StoppedBy + "> already stopped this run.", nil
	}
	if err := r.cfg.Agents.CancelRun(ctx, job.ThreadID, job.RunID); err != nil {
		log.Warn("cancel run", "err", err, "status", agents.ErrorStatus(err))
		if agents.IsStreamUnsupported(err) && !agents.IsRunNotFound(err) {
			return "This agent runtime doesn't let me stop runs, sorry.", nil
		}
		return "I couldn't stop the run: the agent runtime refused. It may finish on its own.", nil
	}
	r.metrics.RunStopped()
	log.Info("run stopped", "run_id", job.RunID)
	return "", nil
}

// stoppedBy returns who stopped a job's run, if anyone did.
func (r *Relay) stoppedBy(ctx context.Context, log *slog.Logger, job threadmap.Job) (string, bool) {
	st, err := r.cfg.Store.StopOf(ctx, job.ID)
	if err != nil {
		if !errors.Is(err, threadmap.ErrNotFound) {
			log.Warn("look up stop", "err", err)
		}
		return "", false
	}
	return st.StoppedBy, st.RunID == job.RunID
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
func (r *Relay) finishStopped(ctx context.Context, log *slog.Logger, job *threadmap.Job, p payload, live *slackpost.Live, by string, out outcome) error {
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
	job.State = threadmap.JobDone
	if err := r.save(ctx, job); err != nil {
		return err
	}
	log.Info("stopped run's reply delivered", "stopped_by", by)
	r.afterRun(*job, p, reactStopped)
	return nil
}
