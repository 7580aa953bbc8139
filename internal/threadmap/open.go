package threadmap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/deepagents-slack/slackbot"
)

// DefaultSQLitePath is the database file used when no DSN is configured.
const DefaultSQLitePath = "deepagents-slack.db"

// Pruner is implemented by every store in this package: handled Slack
// delivery ids only need to be remembered as long as Slack may retry them,
// and finished work (prompts and response_urls included) only as long as
// the operator's retention allows, so callers prune them periodically.
type Pruner interface {
	// PruneDeliveries forgets deliveries claimed before olderThan and
	// reports how many it removed.
	PruneDeliveries(ctx context.Context, olderThan time.Time) (int64, error)
	// PruneFinished deletes done and failed jobs last updated before
	// olderThan, with their approval cards. Open and paused jobs and their
	// cards are kept whatever their age.
	PruneFinished(ctx context.Context, olderThan time.Time) (slackbot.Pruned, error)
}

// Option tunes a store at Open.
type Option func(*options)

type options struct {
	clock func() time.Time
	// leaseClock is what lease times are computed from; nil means the
	// database's own clock (PostgreSQL's now()). SQLite always uses clock:
	// every process sharing its file runs on one machine, so the process
	// clock is the database's clock there.
	leaseClock func() time.Time
}

// WithClock makes the store read the time from now instead of time.Now.
// Leases, creation and update times all use it, so tests can expire a lease
// by moving the clock instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.clock, o.leaseClock = now, now
		}
	}
}

// WithProcessClock sets this process's clock only: creation and update
// times, and SQLite's leases. PostgreSQL leases still come from the
// database's clock, which is what keeps replicas with skewed clocks from
// taking each other's live jobs; tests of clock skew use it.
func WithProcessClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.clock, o.leaseClock = now, nil
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

// newLeaseOwner is the LeaseOwner of a new lease: the worker's name and a
// token no other lease ever carries, so that two workers sharing a name
// (the workers of one replica) can never renew or save each other's lease.
func newLeaseOwner(owner string) string {
	return owner + "/" + uuid.NewString()
}

// Open opens the store named by dsn and brings its schema up to date:
//   - "" → SQLite file DefaultSQLitePath;
//   - "sqlite:<path>", "sqlite://<path>" or a plain file path → SQLite
//     (":memory:" gives a private in-memory database, for tests);
//   - "postgres://…" or "postgresql://…" → PostgreSQL.
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	if err := CheckDSN(dsn); err != nil {
		return nil, err
	}
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

// CheckDSN refuses a DSN that looks like a URL of a database this package
// does not speak (pgsql://, mysql://, a typo of postgres://): without the
// check it would be taken for a SQLite file path, and a file of that name
// quietly created. The error shows the DSN with its password masked.
func CheckDSN(dsn string) error {
	scheme, _, isURL := strings.Cut(dsn, "://")
	if isURL && !isPostgresDSN(dsn) && !strings.EqualFold(scheme, "sqlite") {
		return fmt.Errorf("threadmap: database URL %s: unknown scheme %q; use postgres://… or postgresql://… for PostgreSQL, or a file path (or sqlite:<path>) for SQLite: %w",
			RedactDSN(dsn), scheme, errBadDSN)
	}
	// "pgsql:user:pw@host/db", without the slashes: credentials, not a path.
	if scheme, _, ok := strings.Cut(dsn, ":"); !isURL && ok && len(scheme) > 1 && strings.Contains(dsn, "@") &&
		!strings.EqualFold(scheme, "sqlite") && !strings.EqualFold(scheme, "file") && isScheme(scheme) {
		return fmt.Errorf("threadmap: database URL %s:[redacted]: unknown scheme %q; use postgres://… or postgresql://… for PostgreSQL, or a file path (or sqlite:<path>) for SQLite: %w",
			scheme, scheme, errBadDSN)
	}
	return nil
}

// isScheme reports whether s is made of URL scheme characters (RFC 3986).
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

var (
	errBadDSN     = errors.New("unsupported database URL")
	errEmptyOwner = errors.New("threadmap: LeaseNextJob needs an owner name")
)

// RedactDSN is dsn safe to print: for a URL, everything up to the last
// "@" (the user info, whatever characters the password holds) and any
// query or fragment (password=…) are masked; a plain path is returned as
// it is. It does not rely on the URL parsing, which a mistyped URL may
// confuse into showing the password as a path or fragment.
func RedactDSN(dsn string) string {
	scheme, rest, isURL := strings.Cut(dsn, "://")
	if !isURL {
		return dsn
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = "[redacted]@" + rest[i+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + "?[redacted]"
	}
	return scheme + "://" + rest
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
