-- jobs_open also carries lease_until, so that leasing can skip the jobs
-- leased by others from the index alone (see the SQLite migration).
DROP INDEX jobs_open;
CREATE INDEX jobs_open ON jobs (seq) INCLUDE (thread_id, state, lease_until) WHERE state NOT IN ('done', 'failed');
