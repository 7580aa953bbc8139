-- Fewer pages written per acked Record. Every row the ack path records goes
-- into each B-tree of its table, and every page a group dirties is a WAL
-- frame written before the ack.
--
-- jobs_open_by_thread was keyed by thread id, a hash: each new job landed on
-- a random leaf, so a group of N new threads wrote about N more pages (most
-- of the frames of such a group). Its readers — the count of a thread's open
-- work, a thread's current job and the lease's "no earlier open job in this
-- thread" — scan jobs_open instead, which covers them: index only, open jobs
-- only (leasing walks them in seq order already). New jobs append at its end.
--
-- jobs drops AUTOINCREMENT, which updated sqlite_sequence in every group:
-- seq only orders jobs, and a new job's seq is still above every stored one
-- (a pruned newest job's number may come again; nothing refers to seq).
-- cards is rebuilt with it, referencing the new table, so that no row ever
-- lacks its job (DROP TABLE on a referenced table would delete its rows
-- under foreign key checks).
--
-- conversations and deliveries are only ever found by their primary key:
-- WITHOUT ROWID keeps each in that key's B-tree alone, instead of a rowid
-- table plus an index of the key.
CREATE TABLE jobs_new (
    seq           INTEGER PRIMARY KEY,
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
INSERT INTO jobs_new (seq, id, team_id, channel_id, root_ts, thread_id, kind, payload, state, run_id, reply_ts,
        last_event_id, delivered, error, attempts, lease_owner, lease_until, created_at, updated_at)
    SELECT seq, id, team_id, channel_id, root_ts, thread_id, kind, payload, state, run_id, reply_ts,
        last_event_id, delivered, error, attempts, lease_owner, lease_until, created_at, updated_at
    FROM jobs;

CREATE TABLE cards_new (
    id              TEXT    NOT NULL PRIMARY KEY,
    job_id          TEXT    NOT NULL REFERENCES jobs_new (id),
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
INSERT INTO cards_new (id, job_id, team_id, channel_id, root_ts, thread_id, post_channel_id, message_ts,
        started_by, interrupt, decision, decided_by, decided_at, created_at)
    SELECT id, job_id, team_id, channel_id, root_ts, thread_id, post_channel_id, message_ts,
        started_by, interrupt, decision, decided_by, decided_at, created_at
    FROM cards;

-- Nothing refers to the old jobs once cards is gone; renaming jobs_new
-- renames the reference in cards_new with it.
DROP TABLE cards;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
ALTER TABLE cards_new RENAME TO cards;
CREATE INDEX jobs_open ON jobs (seq, thread_id, state) WHERE state NOT IN ('done', 'failed');
CREATE INDEX jobs_finished_updated ON jobs (updated_at) WHERE state IN ('done', 'failed');
CREATE INDEX cards_job_id ON cards (job_id);

CREATE TABLE conversations_new (
    team_id                      TEXT    NOT NULL,
    channel_id                   TEXT    NOT NULL,
    root_ts                      TEXT    NOT NULL,
    thread_id                    TEXT    NOT NULL,
    agent_id                     TEXT    NOT NULL,
    test_run                     INTEGER NOT NULL DEFAULT 0,
    skip_memory_write_protection INTEGER NOT NULL DEFAULT 0,
    started_by                   TEXT    NOT NULL DEFAULT '',
    created_at                   INTEGER NOT NULL,
    mentions_only                INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (team_id, channel_id, root_ts)
) WITHOUT ROWID;
INSERT INTO conversations_new (team_id, channel_id, root_ts, thread_id, agent_id, test_run,
        skip_memory_write_protection, started_by, created_at, mentions_only)
    SELECT team_id, channel_id, root_ts, thread_id, agent_id, test_run,
        skip_memory_write_protection, started_by, created_at, mentions_only
    FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_new RENAME TO conversations;

CREATE TABLE deliveries_new (
    id         TEXT    NOT NULL PRIMARY KEY,
    claimed_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO deliveries_new (id, claimed_at) SELECT id, claimed_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_claimed_at ON deliveries (claimed_at);
