-- Times are INTEGER microseconds since the Unix epoch, UTC; NULL means unset.

CREATE TABLE conversations (
    team_id                      TEXT    NOT NULL,
    channel_id                   TEXT    NOT NULL,
    root_ts                      TEXT    NOT NULL,
    thread_id                    TEXT    NOT NULL,
    agent_id                     TEXT    NOT NULL,
    test_run                     INTEGER NOT NULL DEFAULT 0,
    skip_memory_write_protection INTEGER NOT NULL DEFAULT 0,
    started_by                   TEXT    NOT NULL DEFAULT '',
    created_at                   INTEGER NOT NULL,
    PRIMARY KEY (team_id, channel_id, root_ts)
);

CREATE TABLE deliveries (
    id         TEXT    NOT NULL PRIMARY KEY,
    claimed_at INTEGER NOT NULL
);
CREATE INDEX deliveries_claimed_at ON deliveries (claimed_at);

-- seq is the order jobs were added in; jobs of a thread are worked in it.
CREATE TABLE jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    team_id       TEXT    NOT NULL,
    channel_id    TEXT    NOT NULL,
    root_ts       TEXT    NOT NULL,
    thread_id     TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    payload       BLOB,
    state         TEXT    NOT NULL,
    run_id        TEXT    NOT NULL DEFAULT '',
    reply_ts      TEXT    NOT NULL DEFAULT '',
    last_event_id TEXT    NOT NULL DEFAULT '',
    delivered     INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT    NOT NULL DEFAULT '',
    lease_until   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- Open jobs only: finished jobs pile up and must not slow leasing down.
CREATE INDEX jobs_open ON jobs (seq) WHERE state NOT IN ('done', 'failed');
CREATE INDEX jobs_open_by_thread ON jobs (thread_id, seq) WHERE state NOT IN ('done', 'failed');

CREATE TABLE cards (
    id              TEXT    NOT NULL PRIMARY KEY,
    job_id          TEXT    NOT NULL REFERENCES jobs (id),
    team_id         TEXT    NOT NULL,
    channel_id      TEXT    NOT NULL,
    root_ts         TEXT    NOT NULL,
    thread_id       TEXT    NOT NULL,
    post_channel_id TEXT    NOT NULL DEFAULT '',
    message_ts      TEXT    NOT NULL DEFAULT '',
    started_by      TEXT    NOT NULL DEFAULT '',
    interrupt       BLOB,
    decision        BLOB,
    decided_by      TEXT    NOT NULL DEFAULT '',
    decided_at      INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX cards_job_id ON cards (job_id);
