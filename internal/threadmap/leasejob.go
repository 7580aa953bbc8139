package threadmap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobLeaser is implemented by every store in this package. A process that
// records one job and wants to follow that job only (the `test-run`
// command) leases it by id instead of taking the next job in line, so it
// never picks up another conversation's work.
type JobLeaser interface {
	// LeaseJob leases the job with id to owner for ttl on the same terms as
	// LeaseNextJob (not final, not paused, lease free or expired, the oldest
	// open job of its thread) and increments Attempts. ErrNoJob when the job
	// cannot be leased now, ErrNotFound when there is no such job.
	LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (Job, error)
}

var (
	_ JobLeaser = (*SQLiteStore)(nil)
	_ JobLeaser = (*PostgresStore)(nil)
)

// LeaseJob leases one job by id; see JobLeaser.
func (s *SQLiteStore) LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (Job, error) {
	if owner == "" {
		return Job{}, errEmptyOwner
	}
	owner = newLeaseOwner(owner)
	now := s.clock()
	j, err := scanSQLiteJob(s.write.QueryRowContext(ctx, `UPDATE jobs
		SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
		WHERE id = ?
		  AND state NOT IN ('done', 'failed') AND state <> 'paused'
		  AND (lease_until IS NULL OR lease_until <= ?)
		  AND NOT EXISTS (
			SELECT 1 FROM jobs o
			WHERE o.thread_id = jobs.thread_id AND o.state NOT IN ('done', 'failed') AND o.seq < jobs.seq)
		RETURNING `+jobColumns,
		owner, now.Add(ttl).UnixMicro(), now.UnixMicro(), id, now.UnixMicro()))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, s.noLease(ctx, id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("threadmap: lease job: %w", err)
	}
	return j, nil
}

func (s *SQLiteStore) noLease(ctx context.Context, id string) error {
	if _, err := s.Job(ctx, id); err != nil {
		return err
	}
	return ErrNoJob
}

// LeaseJob leases one job by id; see JobLeaser.
func (s *PostgresStore) LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (Job, error) {
	if owner == "" {
		return Job{}, errEmptyOwner
	}
	var j Job
	err := s.queryRow(ctx, func(r pgx.Row) (err error) {
		j, err = scanPostgresJob(r)
		return err
	}, `WITH clock AS (SELECT COALESCE($2::timestamptz, now()) AS now),
		target AS (
			SELECT j.seq FROM jobs j, clock
			WHERE j.id = $5
			  AND j.state NOT IN ('done', 'failed') AND j.state <> 'paused'
			  AND (j.lease_until IS NULL OR j.lease_until <= clock.now)
			  AND NOT EXISTS (
				SELECT 1 FROM jobs o
				WHERE o.thread_id = j.thread_id AND o.state NOT IN ('done', 'failed') AND o.seq < j.seq)
			FOR UPDATE OF j SKIP LOCKED)
		UPDATE jobs SET lease_owner = $1, lease_until = clock.now + $3::bigint * interval '1 microsecond',
			attempts = jobs.attempts + 1, updated_at = $4
		FROM target, clock WHERE jobs.seq = target.seq
		RETURNING `+prefixed("jobs.", jobColumns),
		newLeaseOwner(owner), s.leaseNow(), micros(ttl), s.clock(), id)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.Job(ctx, id); err != nil {
			return Job{}, err
		}
		return Job{}, ErrNoJob
	}
	if err != nil {
		return Job{}, fmt.Errorf("threadmap: lease job: %w", err)
	}
	return j, nil
}
