-- Fewer index pages written per acked Record (the SQLite migration of the
-- same name also rebuilds tables; PostgreSQL's identity and primary keys
-- cost no extra B-tree to drop).
--
-- jobs_open_by_thread was keyed by thread id, a hash: each new job landed on
-- a random leaf. Its readers — the count of a thread's open work, a thread's
-- current job and the lease's "no earlier open job in this thread" — scan
-- jobs_open instead, which covers them: index only, open jobs only (leasing
-- walks them in seq order already). New jobs append at its end.
DROP INDEX jobs_open_by_thread;
DROP INDEX jobs_open;
CREATE INDEX jobs_open ON jobs (seq) INCLUDE (thread_id, state) WHERE state NOT IN ('done', 'failed');
