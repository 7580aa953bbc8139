package threadmap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// RecordFeedback stores the first verdict of a user on an answer.
func (s *SQLiteStore) RecordFeedback(ctx context.Context, f slackbot.Feedback) (bool, error) {
	if f.JobID == "" || f.UserID == "" {
		return false, errors.New("threadmap: record feedback: job and user are required")
	}
	at := utcMicro(f.CreatedAt)
	if at.IsZero() {
		at = s.clock()
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO feedback (job_id, user_id, run_id, score, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, user_id) DO NOTHING`,
		f.JobID, f.UserID, f.RunID, f.Score, at.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("threadmap: record feedback: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("threadmap: record feedback: %w", err)
	}
	return n == 1, nil
}

// RecordStop stores the first stop of a job.
func (s *SQLiteStore) RecordStop(ctx context.Context, st slackbot.Stop) (slackbot.Stop, bool, error) {
	if st.JobID == "" || st.StoppedBy == "" {
		return slackbot.Stop{}, false, errors.New("threadmap: record stop: job and user are required")
	}
	st.StoppedAt = utcMicro(st.StoppedAt)
	if st.StoppedAt.IsZero() {
		st.StoppedAt = s.clock()
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO stops (job_id, run_id, stopped_by, stopped_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING`,
		st.JobID, st.RunID, st.StoppedBy, st.StoppedAt.UnixMicro())
	if err != nil {
		return slackbot.Stop{}, false, fmt.Errorf("threadmap: record stop: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return slackbot.Stop{}, false, fmt.Errorf("threadmap: record stop: %w", err)
	}
	if n == 1 {
		return st, true, nil
	}
	stored, err := s.StopOf(ctx, st.JobID)
	return stored, false, err
}

// StopOf returns the stop of a job, or ErrNotFound.
func (s *SQLiteStore) StopOf(ctx context.Context, jobID string) (slackbot.Stop, error) {
	st := slackbot.Stop{JobID: jobID}
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT run_id, stopped_by, stopped_at FROM stops WHERE job_id = ?`, jobID).
		Scan(&st.RunID, &st.StoppedBy, &at)
	if err != nil {
		return slackbot.Stop{}, sqliteErr("stop", err)
	}
	st.StoppedAt = time.UnixMicro(at).UTC()
	return st, nil
}
