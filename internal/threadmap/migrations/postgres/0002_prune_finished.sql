-- Finished jobs are pruned by age (RETENTION); this finds them without
-- scanning the open ones.
CREATE INDEX jobs_finished_updated ON jobs (updated_at) WHERE state IN ('done', 'failed');
