package threadmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
)

// RecordFeedback stores the first verdict of a user on an answer.
func (s *PostgresStore) RecordFeedback(ctx context.Context, f slackbot.Feedback) (bool, error) {
	if f.JobID == "" || f.UserID == "" {
		return false, errors.New("threadmap: record feedback: job and user are required")
	}
	at := utcMicro(f.CreatedAt)
	if at.IsZero() {
		at = s.clock()
	}
	tag, err := s.exec(ctx, `INSERT INTO feedback (job_id, user_id, run_id, score, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, user_id) DO NOTHING`,
		f.JobID, f.UserID, f.RunID, f.Score, at)
	if err != nil {
		return false, fmt.Errorf("threadmap: record feedback: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordStop stores the first stop of a job.
func (s *PostgresStore) RecordStop(ctx context.Context, st slackbot.Stop) (slackbot.Stop, bool, error) {
	if st.JobID == "" || st.StoppedBy == "" {
		return slackbot.Stop{}, false, errors.New("threadmap: record stop: job and user are required")
	}
	st.StoppedAt = utcMicro(st.StoppedAt)
	if st.StoppedAt.IsZero() {
		st.StoppedAt = s.clock()
	}
	tag, err := s.exec(ctx, `INSERT INTO stops (job_id, run_id, stopped_by, stopped_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO NOTHING`,
		st.JobID, st.RunID, st.StoppedBy, st.StoppedAt)
	if err != nil {
		return slackbot.Stop{}, false, fmt.Errorf("threadmap: record stop: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return st, true, nil
	}
	stored, err := s.StopOf(ctx, st.JobID)
	return stored, false, err
}

// StopOf returns the stop of a job, or ErrNotFound.
func (s *PostgresStore) StopOf(ctx context.Context, jobID string) (slackbot.Stop, error) {
	st := slackbot.Stop{JobID: jobID}
	err := s.queryRow(ctx, func(r pgx.Row) error {
		return r.Scan(&st.RunID, &st.StoppedBy, &st.StoppedAt)
	}, `SELECT run_id, stopped_by, stopped_at FROM stops WHERE job_id = $1`, jobID)
	if err != nil {
		return slackbot.Stop{}, postgresErr("stop", err)
	}
	st.StoppedAt = st.StoppedAt.UTC()
	return st, nil
}
