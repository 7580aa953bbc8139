package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/langsmith"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// feedbackKey is the LangSmith feedback key of a Slack verdict.
const feedbackKey = "user_score"

// parseFeedbackValue reads a feedback button's value (see slackpost.FeedbackActionID).
func parseFeedbackValue(v string) (score int, jobID string, err error) {
	switch {
	case strings.HasPrefix(v, slackpost.FeedbackGood):
		score, jobID = 1, v[len(slackpost.FeedbackGood):]
	case strings.HasPrefix(v, slackpost.FeedbackBad):
		score, jobID = 0, v[len(slackpost.FeedbackBad):]
	}
	if jobID == "" {
		return 0, "", fmt.Errorf("not a feedback value: %q", v)
	}
	return score, jobID, nil
}

// feedback records a click on 👍/👎: once per user and answer, sent to
// LangSmith as feedback on the answer's run when the runtime is
// LangSmith-hosted, and counted.
func (r *Relay) feedback(ctx context.Context, channel, user, userName, value string) error {
	score, jobID, err := parseFeedbackValue(value)
	if err != nil {
		r.log.Warn("feedback click with a value this bot did not write", "err", err)
		return nil
	}
	job, err := r.cfg.Store.Job(ctx, jobID)
	switch {
	case errors.Is(err, slackbot.ErrNotFound):
		r.tell(channel, user, "This answer is too old to rate, sorry.")
		return nil
	case err != nil:
		return fmt.Errorf("load job for feedback: %w", err)
	}
	first, err := r.cfg.Store.RecordFeedback(ctx, slackbot.Feedback{
		JobID: job.ID, UserID: user, RunID: job.RunID, Score: score, CreatedAt: r.cfg.Now(),
	})
	if err != nil {
		return fmt.Errorf("record feedback: %w", err)
	}
	if !first {
		r.tell(channel, user, "You already rated this answer; your first rating stands.")
		return nil
	}
	label := map[int]string{1: "good", 0: "bad"}[score]
	r.log.Info("feedback recorded", "job", job.ID, "run_id", job.RunID, "score", label)
	r.tell(channel, user, "Thanks for the feedback!")
	if r.cfg.LangSmith == nil || job.RunID == "" {
		r.metrics.Feedback(label, "not_sent")
		return nil
	}
	who := "Slack user " + user
	if userName != "" && userName != user {
		who += " (" + userName + ")"
	}
	f := langsmith.Feedback{
		// The same verdict always has the same id, so a resend is refused
		// by LangSmith instead of counted twice.
		ID:      uuid.NewSHA1(uuid.NameSpaceURL, []byte("slack-feedback:"+job.ID+":"+user)).String(),
		RunID:   job.RunID,
		Key:     feedbackKey,
		Score:   float64(score),
		Comment: who,
	}
	if err := r.tasks.Go(func(ctx context.Context) { r.sendFeedback(ctx, f, label) }); err != nil {
		r.log.Warn("send feedback to LangSmith", "run_id", f.RunID, "err", err)
		r.metrics.Feedback(label, "failed")
	}
	return nil
}

// sendFeedback sends f to LangSmith off the ack path, a few times if
// LangSmith fails; a verdict it never takes is logged and counted.
func (r *Relay) sendFeedback(ctx context.Context, f langsmith.Feedback, label string) {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(attempt)*r.cfg.RetryBase); err != nil {
				break
			}
		}
		cctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
		err = r.cfg.LangSmith.CreateFeedback(cctx, f)
		cancel()
		if err == nil {
			r.metrics.Feedback(label, "sent")
			return
		}
	}
	r.log.Warn("send feedback to LangSmith", "run_id", f.RunID, "err", err)
	r.metrics.Feedback(label, "failed")
}
