package threadmap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deepagents-slack/slackbot"
)

// defaultPostgresConns bounds the connections one process opens; the DSN
// parameter pool_max_conns overrides it.
const defaultPostgresConns = 8

// postgresGroupWriters is how many Record groups one process commits at
// once; it leaves pool connections for reads and the workers.
const postgresGroupWriters = 4

// PostgresStore is the Store kept in PostgreSQL, for several replicas
// sharing one database. Every atomic step is a single statement or a single
// transaction, so replicas need no other coordination.
type PostgresStore struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// leaseClock, when set (tests), replaces the database's clock for
	// leases; see leaseNow.
	leaseClock func() time.Time
	// group writes concurrent Records in shared transactions.
	group *groupCommit
	// jobsChannel is the NOTIFY channel of this schema's ledger; see
	// ListenJobs.
	jobsChannel string
}

var (
	_ Store  = (*PostgresStore)(nil)
	_ Pruner = (*PostgresStore)(nil)
)

// OpenPostgres connects to the database named by dsn
// ("postgres://user@host:5432/db?sslmode=disable&search_path=…", with the
// pgxpool settings such as pool_max_conns) and applies pending migrations.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*PostgresStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn) // pgx redacts the password in its errors
	if err != nil {
		return nil, fmt.Errorf("threadmap: postgres dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultPostgresConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("threadmap: postgres pool: %w", err)
	}
	o := buildOptions(opts)
	s := &PostgresStore{pool: pool, now: o.clock, leaseClock: o.leaseClock}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	// Channels are per database, not per schema: replicas sharing a schema
	// share a channel, and other schemas' ledgers (tests, staging) do not
	// wake them. An md5 keeps the name within the 63 bytes of an identifier.
	if err := pool.QueryRow(ctx, `SELECT 'threadmap_jobs_' || md5(coalesce(current_schema(), ''))`).Scan(&s.jobsChannel); err != nil {
		pool.Close()
		return nil, fmt.Errorf("threadmap: postgres notify channel: %w", err)
	}
	s.group = newGroupCommit(postgresGroupWriters, s.writeRecords)
	return s, nil
}

func (s *PostgresStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations("postgres")
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("threadmap: postgres migration %s: %w", m.name, err)
		}
	}
	return nil
}

// applyMigration runs m in its own transaction unless it was applied already.
// The advisory lock, held until commit, makes processes starting together
// take turns, so each migration runs once per schema.
func (s *PostgresStore) applyMigration(ctx context.Context, m migration) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(
				hashtextextended('threadmap/migrate/' || coalesce(current_schema(), ''), 0))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER     PRIMARY KEY,
				name       TEXT        NOT NULL,
				applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
			return err
		}
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
			m.version).Scan(&applied); err != nil {
			return err
		}
		if applied {
			return nil
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, s.clock())
		return err
	})
}

func (s *PostgresStore) clock() time.Time { return utcMicro(s.now()) }

// leaseNow is the time leases are computed from, as a statement parameter
// used as COALESCE($n::timestamptz, now()): NULL, so the database's clock,
// unless a test set a lease clock. Every replica then judges a lease by the
// same clock, however far the replicas' own clocks drift apart.
func (s *PostgresStore) leaseNow() *time.Time {
	if s.leaseClock == nil {
		return nil
	}
	t := utcMicro(s.leaseClock())
	return &t
}

// micros is d in whole microseconds, for "$n * interval '1 microsecond'".
func micros(d time.Duration) int64 { return d.Microseconds() }

func (s *PostgresStore) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return s.pool.Exec(ctx, sql, args...)
}

// queryRow runs a one-row query and hands the row to scan.
func (s *PostgresStore) queryRow(ctx context.Context, scan func(pgx.Row) error, sql string, args ...any) error {
	return scan(s.pool.QueryRow(ctx, sql, args...))
}

// inTx runs fn in a transaction, committed when fn succeeds.
func (s *PostgresStore) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// Ping checks that the database answers.
func (s *PostgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("threadmap: ping postgres: %w", err)
	}
	return nil
}

// Close closes the connections; it waits for those in use to be returned.
func (s *PostgresStore) Close() error {
	s.group.close()
	s.pool.Close()
	return nil
}

// Conversation returns the conversation for k, or ErrNotFound.
func (s *PostgresStore) Conversation(ctx context.Context, k slackbot.Key) (slackbot.Conversation, error) {
	var c slackbot.Conversation
	err := s.queryRow(ctx, func(r pgx.Row) error {
		return r.Scan(&c.Key.TeamID, &c.Key.ChannelID, &c.Key.RootTS, &c.ThreadID, &c.AgentID,
			&c.Options.TestRun, &c.Options.SkipMemoryWriteProtection, &c.StartedBy, &c.CreatedAt, &c.MentionsOnly)
	}, `SELECT team_id, channel_id, root_ts, thread_id, agent_id, test_run, skip_memory_write_protection,
			started_by, created_at, mentions_only
		FROM conversations WHERE team_id = $1 AND channel_id = $2 AND root_ts = $3`,
		k.TeamID, k.ChannelID, k.RootTS)
	if err != nil {
		return slackbot.Conversation{}, postgresErr("conversation", err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// BindConversation stores c unless its key is bound already and returns the
// stored conversation. An empty ThreadID is derived from the key and a zero
// CreatedAt is now.
func (s *PostgresStore) BindConversation(ctx context.Context, c slackbot.Conversation) (slackbot.Conversation, error) {
	c = prepareConversation(c, s.clock())
	_, err := s.exec(ctx, `INSERT INTO conversations (team_id, channel_id, root_ts, thread_id, agent_id,
			test_run, skip_memory_write_protection, started_by, created_at, mentions_only)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (team_id, channel_id, root_ts) DO NOTHING`,
		c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ThreadID, c.AgentID,
		c.Options.TestRun, c.Options.SkipMemoryWriteProtection, c.StartedBy, c.CreatedAt, c.MentionsOnly)
	if err != nil {
		return slackbot.Conversation{}, fmt.Errorf("threadmap: bind conversation: %w", err)
	}
	return s.Conversation(ctx, c.Key)
}

// ClaimDelivery reports whether this call was the first to claim id.
func (s *PostgresStore) ClaimDelivery(ctx context.Context, id string) (bool, error) {
	r, err := s.Record(ctx, slackbot.Record{DeliveryID: id})
	if err != nil {
		return false, fmt.Errorf("threadmap: claim delivery: %w", err)
	}
	return r.DeliveryClaimed, nil
}

// PruneDeliveries forgets deliveries claimed before olderThan.
func (s *PostgresStore) PruneDeliveries(ctx context.Context, olderThan time.Time) (int64, error) {
	tag, err := s.exec(ctx, `DELETE FROM deliveries WHERE claimed_at < $1`, utcMicro(olderThan))
	if err != nil {
		return 0, fmt.Errorf("threadmap: prune deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneFinished deletes finished jobs last updated before olderThan and
// their cards, in one transaction.
func (s *PostgresStore) PruneFinished(ctx context.Context, olderThan time.Time) (slackbot.Pruned, error) {
	before := utcMicro(olderThan)
	var p slackbot.Pruned
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM cards WHERE job_id IN (
			SELECT id FROM jobs WHERE state IN ('done', 'failed') AND updated_at < $1)`, before)
		if err != nil {
			return err
		}
		p.Cards = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM stops WHERE job_id IN (
			SELECT id FROM jobs WHERE state IN ('done', 'failed') AND updated_at < $1)`, before); err != nil {
			return err
		}
		tag, err = tx.Exec(ctx, `DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_at < $1`, before)
		p.Jobs = tag.RowsAffected()
		return err
	})
	if err != nil {
		return slackbot.Pruned{}, fmt.Errorf("threadmap: prune finished jobs: %w", err)
	}
	return p, nil
}

// AddJob inserts j unless a job with its ID exists. The job starts without a
// lease and with no attempts; an empty ThreadID is derived from the key, an
// empty State is accepted.
func (s *PostgresStore) AddJob(ctx context.Context, j slackbot.Job) (bool, error) {
	r, err := s.Record(ctx, slackbot.Record{Job: &j})
	if err != nil {
		return false, fmt.Errorf("threadmap: add job: %w", err)
	}
	return r.JobAdded, nil
}

// Record writes r in one transaction, shared with the Records of other
// callers waiting at the same time; see Store.
func (s *PostgresStore) Record(ctx context.Context, r slackbot.Record) (slackbot.Recorded, error) {
	return s.group.record(ctx, prepareRecord(r, s.clock()))
}

// writeRecords writes a group of Records as one pipelined batch: one round
// trip, one transaction (pgx runs a batch in an implicit transaction unless
// it contains transaction control, pkg.go.dev/github.com/jackc/pgx/v5#Conn.SendBatch),
// one commit. Statements run in order, so a Record repeating an earlier one
// of the group finds it there.
//
// Jobs of a thread are worked in seq order, but sequence numbers are handed
// out before commit; per-thread advisory locks, taken first for every thread
// of the group in one order and held to commit, make inserts into one thread
// commit in the order of their numbers, so a worker never sees a later job
// of a thread before an earlier one.
func (s *PostgresStore) writeRecords(ctx context.Context, group []*pendingRecord) error {
	b := &pgx.Batch{}
	var threads []string
	for _, p := range group {
		if p.rec.Job != nil {
			threads = append(threads, p.rec.Job.ThreadID)
		}
	}
	if len(threads) > 0 {
		b.Queue(`SELECT pg_advisory_xact_lock(h) FROM (
				SELECT DISTINCT hashtextextended('threadmap/jobs/' || t, 0) AS h FROM unnest($1::text[]) AS t
				ORDER BY h) AS l`, threads)
	}
	// Rows another transaction may be inserting at the same moment are
	// taken in one order — advisory locks, then conversations by key, then
	// jobs (their threads are locked), then deliveries by id — so concurrent
	// groups wait for each other but never deadlock. The sorts are stable:
	// of two Records of one key, the earlier in the group comes first.
	convs := slices.Clone(group)
	convs = slices.DeleteFunc(convs, func(p *pendingRecord) bool { return p.rec.Conversation == nil })
	slices.SortStableFunc(convs, func(a, b *pendingRecord) int {
		ka, kb := a.rec.Conversation.Key, b.rec.Conversation.Key
		return cmp.Or(cmp.Compare(ka.TeamID, kb.TeamID), cmp.Compare(ka.ChannelID, kb.ChannelID), cmp.Compare(ka.RootTS, kb.RootTS))
	})
	deliveries := slices.Clone(group)
	deliveries = slices.DeleteFunc(deliveries, func(p *pendingRecord) bool { return p.rec.DeliveryID == "" })
	slices.SortStableFunc(deliveries, func(a, b *pendingRecord) int { return cmp.Compare(a.rec.DeliveryID, b.rec.DeliveryID) })

	for _, p := range group {
		p.res = slackbot.Recorded{}
	}
	for _, p := range convs {
		c := p.rec.Conversation
		b.Queue(`INSERT INTO conversations (team_id, channel_id, root_ts, thread_id, agent_id,
				test_run, skip_memory_write_protection, started_by, created_at, mentions_only)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (team_id, channel_id, root_ts) DO NOTHING`,
			c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ThreadID, c.AgentID,
			c.Options.TestRun, c.Options.SkipMemoryWriteProtection, c.StartedBy, c.CreatedAt, c.MentionsOnly)
	}
	for _, p := range group {
		j := p.rec.Job
		if j == nil {
			continue
		}
		b.Queue(`INSERT INTO jobs (id, team_id, channel_id, root_ts, thread_id, kind, payload,
				state, run_id, reply_ts, last_event_id, delivered, error, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (id) DO NOTHING`,
			j.ID, j.Key.TeamID, j.Key.ChannelID, j.Key.RootTS, j.ThreadID, j.Kind, j.Payload,
			j.State, j.RunID, j.ReplyTS, j.LastEventID, j.Delivered, j.Error, j.CreatedAt, j.UpdatedAt,
		).Exec(func(tag pgconn.CommandTag) error {
			p.res.JobAdded = tag.RowsAffected() == 1
			return nil
		})
	}
	now := s.clock()
	for _, p := range deliveries {
		b.Queue(`INSERT INTO deliveries (id, claimed_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
			p.rec.DeliveryID, now).Exec(func(tag pgconn.CommandTag) error {
			p.res.DeliveryClaimed = tag.RowsAffected() == 1
			return nil
		})
	}
	if len(threads) > 0 {
		// Delivered on commit only, to every listening replica.
		b.Queue(`SELECT pg_notify($1, '')`, s.jobsChannel)
	}
	// Close reads every result and the end of the implicit transaction: nil
	// means everything committed.
	return s.pool.SendBatch(ctx, b).Close()
}

// Job returns the job with id, or ErrNotFound.
func (s *PostgresStore) Job(ctx context.Context, id string) (slackbot.Job, error) {
	var j slackbot.Job
	err := s.queryRow(ctx, func(r pgx.Row) (err error) {
		j, err = scanPostgresJob(r)
		return err
	}, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id)
	if err != nil {
		return slackbot.Job{}, postgresErr("job", err)
	}
	return j, nil
}

// UnfinishedJobs counts the jobs of a thread that are not final.
func (s *PostgresStore) UnfinishedJobs(ctx context.Context, threadID string) (int, error) {
	var n int
	err := s.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&n) },
		`SELECT COUNT(*) FROM jobs WHERE thread_id = $1 AND state NOT IN ('done', 'failed')`, threadID)
	if err != nil {
		return 0, fmt.Errorf("threadmap: unfinished jobs: %w", err)
	}
	return n, nil
}

// LeaseNextJob leases the next job that may be worked; see Store.
func (s *PostgresStore) LeaseNextJob(ctx context.Context, owner string, ttl time.Duration) (slackbot.Job, error) {
	return s.lease(ctx, "", owner, ttl)
}

// lease leases the oldest job that may be worked now or, with an id, that
// job only if it may (LeaseJob): one statement, so both follow the same
// rules, on the database's clock. SKIP LOCKED lets concurrent workers pass
// over a job another one is leasing right now instead of queueing behind
// it; the job's thread stays blocked for them all the same, since the
// locked job is still its oldest open one.
func (s *PostgresStore) lease(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error) {
	if owner == "" {
		return slackbot.Job{}, errEmptyOwner
	}
	args := []any{newLeaseOwner(owner), s.leaseNow(), micros(ttl), s.clock()}
	byID := ""
	if id != "" {
		byID = "j.id = $5 AND "
		args = append(args, id)
	}
	var j slackbot.Job
	err := s.queryRow(ctx, func(r pgx.Row) (err error) {
		j, err = scanPostgresJob(r)
		return err
	}, `WITH clock AS (SELECT COALESCE($2::timestamptz, now()) AS now),
		next AS (
			SELECT j.seq FROM jobs j, clock
			WHERE `+byID+`j.state NOT IN ('done', 'failed') AND j.state <> 'paused'
			  AND (j.lease_until IS NULL OR j.lease_until <= clock.now)
			  AND NOT EXISTS (
				SELECT 1 FROM jobs o
				WHERE o.thread_id = j.thread_id AND o.state NOT IN ('done', 'failed') AND o.seq < j.seq)
			ORDER BY j.seq
			LIMIT 1
			FOR UPDATE OF j SKIP LOCKED)
		UPDATE jobs SET lease_owner = $1, lease_until = clock.now + $3::bigint * interval '1 microsecond',
			attempts = jobs.attempts + 1, updated_at = $4
		FROM next, clock WHERE jobs.seq = next.seq
		RETURNING `+prefixed("jobs.", jobColumns), args...)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && id != "":
		if _, err := s.Job(ctx, id); err != nil {
			return slackbot.Job{}, err // ErrNotFound: no such job
		}
		return slackbot.Job{}, slackbot.ErrNoJob
	case errors.Is(err, pgx.ErrNoRows):
		return slackbot.Job{}, slackbot.ErrNoJob
	case err != nil:
		return slackbot.Job{}, fmt.Errorf("threadmap: lease job: %w", err)
	}
	return j, nil
}

// RenewLease extends owner's lease to ttl from now by the database's
// clock. The lease is owner's as long as no one else took it: an expired
// lease nobody took over yet can still be renewed.
func (s *PostgresStore) RenewLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	tag, err := s.exec(ctx, `UPDATE jobs SET lease_until = COALESCE($1::timestamptz, now()) + $2::bigint * interval '1 microsecond',
			updated_at = $3
		WHERE id = $4 AND lease_owner = $5 AND lease_owner <> ''`,
		s.leaseNow(), micros(ttl), s.clock(), jobID, owner)
	return s.leaseResult(ctx, "renew lease", jobID, tag, err)
}

// UpdateJob saves the worker-owned fields of j while j.LeaseOwner holds the
// lease; a paused or final job gives its lease up.
func (s *PostgresStore) UpdateJob(ctx context.Context, j slackbot.Job) error {
	tag, err := s.exec(ctx, `UPDATE jobs SET
			state = $1, run_id = $2, reply_ts = $3, last_event_id = $4, delivered = $5, error = $6, payload = $7,
			updated_at = $8,
			lease_owner = CASE WHEN $1 IN ('paused', 'done', 'failed') THEN '' ELSE lease_owner END,
			lease_until = CASE WHEN $1 IN ('paused', 'done', 'failed') THEN NULL ELSE lease_until END
		WHERE id = $9 AND lease_owner = $10 AND lease_owner <> ''`,
		j.State, j.RunID, j.ReplyTS, j.LastEventID, j.Delivered, j.Error, j.Payload,
		s.clock(), j.ID, j.LeaseOwner)
	return s.leaseResult(ctx, "update job", j.ID, tag, err)
}

// ReleaseLease frees owner's lease so any worker may take the job now.
func (s *PostgresStore) ReleaseLease(ctx context.Context, jobID, owner string) error {
	// A released job is work for any replica now (a shutdown's handover):
	// announced in the same statement, so only when a row was released.
	tag, err := s.exec(ctx, `WITH released AS (
			UPDATE jobs SET lease_owner = '', lease_until = NULL, updated_at = $1
			WHERE id = $2 AND lease_owner = $3 AND lease_owner <> ''
			RETURNING 1)
		SELECT pg_notify($4, '') FROM released`,
		s.clock(), jobID, owner, s.jobsChannel)
	return s.leaseResult(ctx, "release lease", jobID, tag, err)
}

// leaseResult turns the outcome of a lease-guarded update into nil,
// ErrLeaseLost or, for a job that does not exist, ErrNotFound.
func (s *PostgresStore) leaseResult(ctx context.Context, op, jobID string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return fmt.Errorf("threadmap: %s: %w", op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := s.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&exists) },
		`SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)`, jobID); err != nil {
		return fmt.Errorf("threadmap: %s: %w", op, err)
	}
	if !exists {
		return fmt.Errorf("threadmap: %s %s: %w", op, jobID, slackbot.ErrNotFound)
	}
	return slackbot.ErrLeaseLost
}

// SaveCard inserts c, or replaces the stored card with the same ID while that
// one is undecided. Decisions are only recorded by DecideCard: the decision
// fields of c are ignored, and a decided card is left as it is.
func (s *PostgresStore) SaveCard(ctx context.Context, c slackbot.Card) error {
	c = prepareCard(c, s.clock())
	_, err := s.exec(ctx, `INSERT INTO cards (id, job_id, team_id, channel_id, root_ts, thread_id,
			post_channel_id, message_ts, started_by, interrupt, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (id) DO UPDATE SET
			job_id = excluded.job_id, team_id = excluded.team_id, channel_id = excluded.channel_id,
			root_ts = excluded.root_ts, thread_id = excluded.thread_id, post_channel_id = excluded.post_channel_id,
			message_ts = excluded.message_ts, started_by = excluded.started_by, interrupt = excluded.interrupt,
			created_at = excluded.created_at
		WHERE cards.decided_by = ''`,
		c.ID, c.JobID, c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ThreadID,
		c.ChannelID, c.MessageTS, c.StartedBy, c.Interrupt, c.CreatedAt)
	if err != nil {
		return fmt.Errorf("threadmap: save card: %w", err)
	}
	return nil
}

// Card returns the card with id, or ErrNotFound.
func (s *PostgresStore) Card(ctx context.Context, id string) (slackbot.Card, error) {
	var c slackbot.Card
	err := s.queryRow(ctx, func(r pgx.Row) (err error) {
		c, err = scanPostgresCard(r)
		return err
	}, `SELECT `+cardColumns+` FROM cards WHERE id = $1`, id)
	if err != nil {
		return slackbot.Card{}, postgresErr("card", err)
	}
	return c, nil
}

// DecideCard records the first decision on a card and, in the same
// transaction, turns its paused job into a resume job; see Store. A second
// decider's UPDATE waits for the first one's row lock and then finds the
// card decided.
func (s *PostgresStore) DecideCard(ctx context.Context, id, by string, decision, resume []byte, at time.Time) (slackbot.Card, bool, error) {
	if by == "" {
		return slackbot.Card{}, false, errEmptyDecider
	}
	now := s.clock()
	at = utcMicro(at)
	if at.IsZero() {
		at = now
	}
	var card slackbot.Card
	var decided bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cards SET decision = $1, decided_by = $2, decided_at = $3
			WHERE id = $4 AND decided_by = ''`, decision, by, at, id)
		if err != nil {
			return err
		}
		decided = tag.RowsAffected() == 1
		card, err = scanPostgresCard(tx.QueryRow(ctx, `SELECT `+cardColumns+` FROM cards WHERE id = $1`, id))
		if err != nil {
			return postgresErr("card", err)
		}
		if !decided {
			return nil
		}
		tag, err = tx.Exec(ctx, pgResumeJob, resume, now, card.JobID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return s.notifyJobs(ctx, tx)
	})
	if err != nil {
		return slackbot.Card{}, false, fmt.Errorf("threadmap: decide card: %w", err)
	}
	return card, decided, nil
}

func scanPostgresJob(r pgx.Row) (slackbot.Job, error) {
	var j slackbot.Job
	var leaseUntil *time.Time
	err := r.Scan(&j.ID, &j.Key.TeamID, &j.Key.ChannelID, &j.Key.RootTS, &j.ThreadID, &j.Kind, &j.Payload,
		&j.State, &j.RunID, &j.ReplyTS, &j.LastEventID, &j.Delivered, &j.Error, &j.Attempts,
		&j.LeaseOwner, &leaseUntil, &j.CreatedAt, &j.UpdatedAt)
	if err != nil {
		return slackbot.Job{}, err
	}
	if leaseUntil != nil {
		j.LeaseUntil = leaseUntil.UTC()
	}
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return j, nil
}

func scanPostgresCard(r pgx.Row) (slackbot.Card, error) {
	var c slackbot.Card
	var decidedAt *time.Time
	err := r.Scan(&c.ID, &c.JobID, &c.Key.TeamID, &c.Key.ChannelID, &c.Key.RootTS, &c.ThreadID,
		&c.ChannelID, &c.MessageTS, &c.StartedBy, &c.Interrupt, &c.Decision, &c.DecidedBy, &decidedAt, &c.CreatedAt)
	if err != nil {
		return slackbot.Card{}, err
	}
	if decidedAt != nil {
		c.DecidedAt = decidedAt.UTC()
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// postgresErr maps "no rows" to ErrNotFound.
func postgresErr(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("threadmap: %s: %w", what, slackbot.ErrNotFound)
	}
	return fmt.Errorf("threadmap: %s: %w", what, err)
}

const pgResumeJob = `UPDATE jobs SET kind = 'resume', payload = $1, state = 'accepted',
		run_id = '', reply_ts = '', last_event_id = '', delivered = 0, error = '', attempts = 0,
		lease_owner = '', lease_until = NULL, updated_at = $2
	WHERE id = $3 AND state = 'paused'`

// ResumeJob implements Store.
func (s *PostgresStore) ResumeJob(ctx context.Context, jobID string, resume []byte) (bool, error) {
	var resumed bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, pgResumeJob, resume, s.clock(), jobID)
		resumed = tag.RowsAffected() == 1
		if err != nil || !resumed {
			return err
		}
		return s.notifyJobs(ctx, tx)
	})
	if err != nil {
		return false, fmt.Errorf("threadmap: resume job: %w", err)
	}
	return resumed, nil
}

// prefixed qualifies each column of a comma-separated list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
