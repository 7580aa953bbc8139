package threadmap

import (
	"context"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// JobLeaser is implemented by every store in this package. A process that
// records one job and wants to follow that job only (the `test-run`
// command) leases it by id instead of taking the next job in line, so it
// never picks up another conversation's work.
type JobLeaser interface {
	// LeaseJob leases the job with id to owner for ttl on the same terms as
	// LeaseNextJob (not final, not paused, lease free or expired, the oldest
	// open job of its thread) and increments Attempts. slackbot.ErrNoJob when the job
	// cannot be leased now, slackbot.ErrNotFound when there is no such job.
	LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error)
}

var (
	_ JobLeaser = (*SQLiteStore)(nil)
	_ JobLeaser = (*PostgresStore)(nil)
)

// LeaseJob leases one job by id; see JobLeaser.
func (s *SQLiteStore) LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error) {
	return s.lease(ctx, id, owner, ttl)
}

// LeaseJob leases one job by id; see JobLeaser.
func (s *PostgresStore) LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error) {
	return s.lease(ctx, id, owner, ttl)
}
