package threadmap

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DefaultSQLitePath is the database file used when no DSN is configured.
const DefaultSQLitePath = "deepagents-slack.db"

// Pruner is implemented by every store in this package: handled Slack
// delivery ids only need to be remembered as long as Slack may retry them,
// so callers prune them periodically.
type Pruner interface {
	// PruneDeliveries forgets deliveries claimed before olderThan and
	// reports how many it removed.
	PruneDeliveries(ctx context.Context, olderThan time.Time) (int64, error)
}

// Option tunes a store at Open.
type Option func(*options)

type options struct {
	clock func() time.Time
}

// WithClock makes the store read the time from now instead of time.Now.
// Leases, creation and update times all use it, so tests can expire a lease
// by moving the clock instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.clock = now
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{clock: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Open opens the store named by dsn and brings its schema up to date:
//   - "" → SQLite file DefaultSQLitePath;
//   - "sqlite:<path>", "sqlite://<path>" or a plain file path → SQLite
//     (":memory:" gives a private in-memory database, for tests);
//   - "postgres://…" or "postgresql://…" → PostgreSQL.
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	// Each branch checks err itself so that a failed open returns a nil
	// Store, not an interface holding a nil pointer.
	if isPostgresDSN(dsn) {
		s, err := OpenPostgres(ctx, dsn, opts...)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := OpenSQLite(ctx, sqlitePath(dsn), opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func isPostgresDSN(dsn string) bool {
	lower := strings.ToLower(dsn)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// sqlitePath turns a SQLite DSN into the file path it names.
func sqlitePath(dsn string) string {
	switch {
	case dsn == "":
		return DefaultSQLitePath
	case strings.HasPrefix(dsn, "sqlite://"):
		return strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		return strings.TrimPrefix(dsn, "sqlite:")
	default:
		return dsn
	}
}

// utcMicro is how every timestamp is stored: UTC at microsecond precision,
// the finest PostgreSQL keeps, so both stores give back what they were given.
func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// errEmptyDecider guards the rule that an empty DecidedBy means undecided.
var errEmptyDecider = fmt.Errorf("threadmap: DecideCard needs who decided")
