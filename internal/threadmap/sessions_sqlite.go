package threadmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/deepagents-slack/slackbot"
)

// WithdrawStop deletes the stop of s.JobID if it is s.
func (s *SQLiteStore) WithdrawStop(ctx context.Context, st slackbot.Stop) (bool, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM stops WHERE job_id = ? AND run_id = ? AND stopped_by = ?`,
		st.JobID, st.RunID, st.StoppedBy)
	if err != nil {
		return false, fmt.Errorf("threadmap: withdraw stop: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("threadmap: withdraw stop: %w", err)
	}
	return n == 1, nil
}

// CurrentJob returns the oldest non-final job of a thread.
func (s *SQLiteStore) CurrentJob(ctx context.Context, threadID string) (slackbot.Job, error) {
	j, err := scanSQLiteJob(s.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE thread_id = ? AND state NOT IN ('done', 'failed') ORDER BY seq LIMIT 1`, threadID))
	if err != nil {
		return slackbot.Job{}, sqliteErr("current job", err)
	}
	return j, nil
}

// SetAssistantContext stores c unless a later event's context is stored.
func (s *SQLiteStore) SetAssistantContext(ctx context.Context, c slackbot.AssistantContext) (bool, error) {
	if err := validContext(c); err != nil {
		return false, err
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO assistant_contexts
		(team_id, channel_id, thread_ts, context_channel_id, event_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (team_id, channel_id, thread_ts) DO UPDATE
		SET context_channel_id = excluded.context_channel_id, event_at = excluded.event_at
		WHERE excluded.event_at >= assistant_contexts.event_at`,
		c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ChannelID, utcMicro(c.EventAt).UnixMicro())
	if err != nil {
		return false, fmt.Errorf("threadmap: set assistant context: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("threadmap: set assistant context: %w", err)
	}
	return n == 1, nil
}

// AssistantContextOf returns the context of an AI app thread.
func (s *SQLiteStore) AssistantContextOf(ctx context.Context, k slackbot.Key) (slackbot.AssistantContext, error) {
	c := slackbot.AssistantContext{Key: k}
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT context_channel_id, event_at FROM assistant_contexts
		WHERE team_id = ? AND channel_id = ? AND thread_ts = ?`, k.TeamID, k.ChannelID, k.RootTS).Scan(&c.ChannelID, &at)
	if err != nil {
		return slackbot.AssistantContext{}, sqliteErr("assistant context", err)
	}
	c.EventAt = fromMicros(at)
	return c, nil
}

// validContext checks the fields every store requires of an AssistantContext.
func validContext(c slackbot.AssistantContext) error {
	if c.Key.ChannelID == "" || c.Key.RootTS == "" || c.ChannelID == "" {
		return errors.New("threadmap: set assistant context: thread and context channel are required")
	}
	return nil
}
