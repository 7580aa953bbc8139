package threadmap

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
)

// WithdrawStop deletes the stop of s.JobID if it is s.
func (s *PostgresStore) WithdrawStop(ctx context.Context, st slackbot.Stop) (bool, error) {
	tag, err := s.exec(ctx, `DELETE FROM stops WHERE job_id = $1 AND run_id = $2 AND stopped_by = $3`,
		st.JobID, st.RunID, st.StoppedBy)
	if err != nil {
		return false, fmt.Errorf("threadmap: withdraw stop: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CurrentJob returns the oldest non-final job of a thread.
func (s *PostgresStore) CurrentJob(ctx context.Context, threadID string) (slackbot.Job, error) {
	var j slackbot.Job
	err := s.queryRow(ctx, func(r pgx.Row) (err error) {
		j, err = scanPostgresJob(r)
		return err
	}, `SELECT `+jobColumns+` FROM jobs
		WHERE thread_id = $1 AND state NOT IN ('done', 'failed') ORDER BY seq LIMIT 1`, threadID)
	if err != nil {
		return slackbot.Job{}, postgresErr("current job", err)
	}
	return j, nil
}

// SetAssistantContext stores c unless a later event's context is stored.
func (s *PostgresStore) SetAssistantContext(ctx context.Context, c slackbot.AssistantContext) (bool, error) {
	if err := validContext(c); err != nil {
		return false, err
	}
	tag, err := s.exec(ctx, `INSERT INTO assistant_contexts
		(team_id, channel_id, thread_ts, context_channel_id, event_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (team_id, channel_id, thread_ts) DO UPDATE
		SET context_channel_id = excluded.context_channel_id, event_at = excluded.event_at
		WHERE excluded.event_at >= assistant_contexts.event_at`,
		c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ChannelID, utcMicro(c.EventAt).UnixMicro())
	if err != nil {
		return false, fmt.Errorf("threadmap: set assistant context: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// AssistantContextOf returns the context of an AI app thread.
func (s *PostgresStore) AssistantContextOf(ctx context.Context, k slackbot.Key) (slackbot.AssistantContext, error) {
	c := slackbot.AssistantContext{Key: k}
	var at int64
	err := s.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&c.ChannelID, &at) },
		`SELECT context_channel_id, event_at FROM assistant_contexts
		WHERE team_id = $1 AND channel_id = $2 AND thread_ts = $3`, k.TeamID, k.ChannelID, k.RootTS)
	if err != nil {
		return slackbot.AssistantContext{}, postgresErr("assistant context", err)
	}
	c.EventAt = fromMicros(at)
	return c, nil
}
