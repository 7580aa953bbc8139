-- The channel a user had in view in a Slack AI app thread, the latest one
-- Slack told (assistant_thread_started / _context_changed), by the thread.
-- event_at (µs from the event's event_ts) keeps a late redelivery from
-- overwriting a newer context.
CREATE TABLE assistant_contexts (
    team_id            TEXT    NOT NULL,
    channel_id         TEXT    NOT NULL,
    thread_ts          TEXT    NOT NULL,
    context_channel_id TEXT    NOT NULL,
    event_at           INTEGER NOT NULL,
    PRIMARY KEY (team_id, channel_id, thread_ts)
);
