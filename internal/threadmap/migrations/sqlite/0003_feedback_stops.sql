-- One verdict per user and answer (the job that delivered it). Holds no
-- message text.
CREATE TABLE feedback (
    job_id     TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    run_id     TEXT    NOT NULL DEFAULT '',
    score      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, user_id)
);

-- The first Stop of a job's run; later clicks, on any replica, find it.
CREATE TABLE stops (
    job_id     TEXT    NOT NULL PRIMARY KEY,
    run_id     TEXT    NOT NULL DEFAULT '',
    stopped_by TEXT    NOT NULL,
    stopped_at INTEGER NOT NULL
);
