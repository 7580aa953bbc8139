CREATE TABLE conversations (
    team_id                      TEXT        NOT NULL,
    channel_id                   TEXT        NOT NULL,
    root_ts                      TEXT        NOT NULL,
    thread_id                    TEXT        NOT NULL,
    agent_id                     TEXT        NOT NULL,
    test_run                     BOOLEAN     NOT NULL DEFAULT FALSE,
    skip_memory_write_protection BOOLEAN     NOT NULL DEFAULT FALSE,
    started_by                   TEXT        NOT NULL DEFAULT '',
    created_at                   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (team_id, channel_id, root_ts)
);

CREATE TABLE deliveries (
    id         TEXT        PRIMARY KEY,
    claimed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_claimed_at ON deliveries (claimed_at);

-- seq is the order jobs were added in; jobs of a thread are worked in it.
CREATE TABLE jobs (
    seq           BIGINT      GENERATED ALWAYS AS IDENTITY UNIQUE,
    id            TEXT        PRIMARY KEY,
    team_id       TEXT        NOT NULL,
    channel_id    TEXT        NOT NULL,
    root_ts       TEXT        NOT NULL,
    thread_id     TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    payload       BYTEA,
    state         TEXT        NOT NULL,
    run_id        TEXT        NOT NULL DEFAULT '',
    reply_ts      TEXT        NOT NULL DEFAULT '',
    last_event_id TEXT        NOT NULL DEFAULT '',
    delivered     INTEGER     NOT NULL DEFAULT 0,
    error         TEXT        NOT NULL DEFAULT '',
    attempts      INTEGER     NOT NULL DEFAULT 0,
    lease_owner   TEXT        NOT NULL DEFAULT '',
    lease_until   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- Open jobs only: finished jobs pile up and must not slow leasing down.
CREATE INDEX jobs_open ON jobs (seq) WHERE state NOT IN ('done', 'failed');
CREATE INDEX jobs_open_by_thread ON jobs (thread_id, seq) WHERE state NOT IN ('done', 'failed');

CREATE TABLE cards (
    id              TEXT        PRIMARY KEY,
    job_id          TEXT        NOT NULL REFERENCES jobs (id),
    team_id         TEXT        NOT NULL,
    channel_id      TEXT        NOT NULL,
    root_ts         TEXT        NOT NULL,
    thread_id       TEXT        NOT NULL,
    post_channel_id TEXT        NOT NULL DEFAULT '',
    message_ts      TEXT        NOT NULL DEFAULT '',
    started_by      TEXT        NOT NULL DEFAULT '',
    interrupt       BYTEA,
    decision        BYTEA,
    decided_by      TEXT        NOT NULL DEFAULT '',
    decided_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX cards_job_id ON cards (job_id);
