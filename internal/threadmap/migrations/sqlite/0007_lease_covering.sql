-- jobs_open also carries lease_until, so that leasing walks it alone:
-- a replica following thousands of runs holds thousands of open jobs, all
-- leased, and the lease statement skipped each after reading its table row
-- (about 1 µs each, on the single writer, per lease).
DROP INDEX jobs_open;
CREATE INDEX jobs_open ON jobs (seq, thread_id, state, lease_until) WHERE state NOT IN ('done', 'failed');
