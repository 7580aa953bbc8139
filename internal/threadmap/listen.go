package threadmap

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// JobListener is implemented by stores shared by several processes that
// can announce new work, so an idle replica wakes when another one records
// a job instead of at its next poll. SQLite is not one: a SQLite file has
// a single replica, which wakes itself.
type JobListener interface {
	// ListenJobs calls wake whenever a job may have become leasable: a job
	// was recorded, a lease released, a paused job resumed, by any process
	// sharing the store. It also calls wake once as soon as it listens,
	// since announcements made before were missed. It returns nil when ctx
	// ends, or the error that stopped it listening; the caller may call it
	// again. wake must not block.
	ListenJobs(ctx context.Context, wake func()) error
}

var _ JobListener = (*PostgresStore)(nil)

// ListenJobs listens for the ledger's announcements (pg_notify in the
// statements that make a job leasable) on a connection of its own: a
// connection waiting for notifications cannot run queries, so it is not
// taken from the pool.
func (s *PostgresStore) ListenJobs(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("threadmap: listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.jobsChannel}.Sanitize()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("threadmap: listen: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("threadmap: wait for notification: %w", err)
		}
		wake()
	}
}

// notifyJobs announces, on commit of tx, that a job may have become
// leasable.
func (s *PostgresStore) notifyJobs(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.jobsChannel)
	return err
}
