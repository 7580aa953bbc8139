package threadmap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the pure-Go "sqlite" driver

	"github.com/deepagents-slack/slackbot"
)

// sqliteParams configure every connection. busy_timeout makes a connection
// wait for another process's write instead of failing with SQLITE_BUSY, and
// _txlock=immediate takes the write lock at BEGIN, so a transaction never has
// to upgrade a read lock (the one case the busy timeout cannot help).
const sqliteParams = "_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_txlock=immediate"

// sqliteWriteParams are the write connection's own. temp_store(memory)
// keeps statement journals in memory: a Record group's multi-row INSERTs
// each open one (the undo of that statement alone, should it fail halfway),
// and past 64 KiB SQLite moved it to a temporary file, written with a
// syscall per page; that was about a tenth of the ack path's CPU. It changes
// nothing durable: a statement journal only serves a rollback inside the
// open transaction and is discarded at commit; commits still go through the
// WAL with synchronous=FULL (the default), so an ack still follows its fsync.
var sqliteWriteParams = fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)&_pragma=temp_store(memory)", sqliteAutoCheckpoint)

// sqliteReaders bounds the read pool; WAL lets readers run beside the writer.
const sqliteReaders = 4

// SQLiteStore is the Store kept in an embedded SQLite database file.
type SQLiteStore struct {
	// write has a single connection: writes of this process queue in Go
	// rather than in SQLite's busy loop; other processes are serialised by
	// SQLite's file lock.
	write *sql.DB
	// read serves plain reads; it is write itself for an in-memory database,
	// which lives and dies with its only connection.
	read *sql.DB
	now  func() time.Time
	// group writes concurrent Records in shared transactions.
	group *groupCommit
	// groupStmts are the Record path's INSERTs, prepared once on the write
	// connection.
	groupStmts groupStatements
	// selectConversation is on every message's ack path; database/sql
	// keeps it prepared on each read connection.
	selectConversation *sql.Stmt
	// ckpt checkpoints the WAL off the write connection (nil in memory).
	ckpt *checkpointer
}

var (
	_ Store  = (*SQLiteStore)(nil)
	_ Pruner = (*SQLiteStore)(nil)
)

// OpenSQLite opens (creating if needed) the SQLite database at path, or a
// private in-memory one for ":memory:", and applies pending migrations.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*SQLiteStore, error) {
	if path == "" {
		path = DefaultSQLitePath
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("threadmap: sqlite path %q must not contain '?' or '#'", path)
	}
	o := buildOptions(opts)
	write, err := sql.Open("sqlite", path+"?"+sqliteParams+sqliteWriteParams)
	if err != nil {
		return nil, fmt.Errorf("threadmap: open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	s := &SQLiteStore{write: write, read: write, now: o.clock}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	if path != ":memory:" {
		read, err := sql.Open("sqlite", path+"?"+sqliteParams+"&_query_only=1")
		if err != nil {
			write.Close()
			return nil, fmt.Errorf("threadmap: open sqlite %s: %w", path, err)
		}
		read.SetMaxOpenConns(sqliteReaders)
		read.SetMaxIdleConns(sqliteReaders)
		s.read = read
	}
	if err := s.prepareStatements(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("threadmap: open sqlite %s: %w", path, err)
	}
	if path != ":memory:" {
		if s.ckpt, err = startCheckpointer(path); err != nil {
			s.Close()
			return nil, fmt.Errorf("threadmap: open sqlite %s: %w", path, err)
		}
	}
	s.group = newGroupCommit(1, s.writeRecords)
	return s, nil
}

func (s *SQLiteStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations("sqlite")
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := retryBusy(ctx, func() error { return s.applyMigration(ctx, m) }); err != nil {
			return fmt.Errorf("threadmap: sqlite migration %s: %w", m.name, err)
		}
	}
	return nil
}

// retryBusy runs fn again while it fails with SQLITE_BUSY, for up to about
// ten seconds. It is for Open only: while two processes create a new file at
// the same moment and switch it to WAL, SQLite may answer BEGIN IMMEDIATE
// with SQLITE_BUSY without waiting (it does so where waiting could
// deadlock). Once the file is in WAL mode the busy timeout covers every wait.
func retryBusy(ctx context.Context, fn func() error) error {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// sqliteBusy is SQLite's primary result code SQLITE_BUSY.
const sqliteBusy = 5

// applyMigration runs m in its own write transaction unless it was applied
// already. Everything, even creating schema_migrations, happens after BEGIN
// IMMEDIATE has taken the write lock, so two processes starting together
// wait for each other and apply m once.
func (s *SQLiteStore) applyMigration(ctx context.Context, m migration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL)`); err != nil {
			return err
		}
		var applied int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&applied); err != nil {
			return err
		}
		if applied > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, s.clock().UnixMicro())
		return err
	})
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it when
// fn succeeds.
func (s *SQLiteStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *SQLiteStore) clock() time.Time { return utcMicro(s.now()) }

// Ping checks both connection pools.
func (s *SQLiteStore) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("threadmap: ping sqlite: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("threadmap: ping sqlite: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *SQLiteStore) Close() error {
	if s.group != nil {
		s.group.close()
	}
	var err error
	if s.ckpt != nil {
		err = s.ckpt.close()
	}
	err = errors.Join(err, s.groupStmts.close())
	if s.selectConversation != nil {
		err = errors.Join(err, s.selectConversation.Close())
	}
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return errors.Join(err, s.write.Close())
}

// Conversation returns the conversation for k, or ErrNotFound.
func (s *SQLiteStore) Conversation(ctx context.Context, k slackbot.Key) (slackbot.Conversation, error) {
	var c slackbot.Conversation
	var created int64
	err := s.selectConversation.QueryRowContext(ctx, k.TeamID, k.ChannelID, k.RootTS).Scan(&c.Key.TeamID, &c.Key.ChannelID, &c.Key.RootTS, &c.ThreadID, &c.AgentID,
		&c.Options.TestRun, &c.Options.SkipMemoryWriteProtection, &c.StartedBy, &created, &c.MentionsOnly)
	if err != nil {
		return slackbot.Conversation{}, sqliteErr("conversation", err)
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

// BindConversation stores c unless its key is bound already and returns the
// stored conversation. An empty ThreadID is derived from the key and a zero
// CreatedAt is now.
func (s *SQLiteStore) BindConversation(ctx context.Context, c slackbot.Conversation) (slackbot.Conversation, error) {
	c = prepareConversation(c, s.clock())
	_, err := s.write.ExecContext(ctx, `INSERT INTO conversations (team_id, channel_id, root_ts, thread_id, agent_id,
			test_run, skip_memory_write_protection, started_by, created_at, mentions_only)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (team_id, channel_id, root_ts) DO NOTHING`,
		c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ThreadID, c.AgentID,
		c.Options.TestRun, c.Options.SkipMemoryWriteProtection, c.StartedBy, c.CreatedAt.UnixMicro(), c.MentionsOnly)
	if err != nil {
		return slackbot.Conversation{}, fmt.Errorf("threadmap: bind conversation: %w", err)
	}
	return s.Conversation(ctx, c.Key)
}

// ClaimDelivery reports whether this call was the first to claim id.
func (s *SQLiteStore) ClaimDelivery(ctx context.Context, id string) (bool, error) {
	r, err := s.Record(ctx, slackbot.Record{DeliveryID: id})
	if err != nil {
		return false, fmt.Errorf("threadmap: claim delivery: %w", err)
	}
	return r.DeliveryClaimed, nil
}

// PruneDeliveries forgets deliveries claimed before olderThan.
func (s *SQLiteStore) PruneDeliveries(ctx context.Context, olderThan time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM deliveries WHERE claimed_at < ?`, utcMicro(olderThan).UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("threadmap: prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("threadmap: prune deliveries: %w", err)
	}
	return n, nil
}

// PruneFinished deletes finished jobs last updated before olderThan and
// their cards, in one transaction.
func (s *SQLiteStore) PruneFinished(ctx context.Context, olderThan time.Time) (slackbot.Pruned, error) {
	before := utcMicro(olderThan).UnixMicro()
	var p slackbot.Pruned
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM cards WHERE job_id IN (
			SELECT id FROM jobs WHERE state IN ('done', 'failed') AND updated_at < ?)`, before)
		if err != nil {
			return err
		}
		if p.Cards, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM stops WHERE job_id IN (
			SELECT id FROM jobs WHERE state IN ('done', 'failed') AND updated_at < ?)`, before); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_at < ?`, before)
		if err != nil {
			return err
		}
		p.Jobs, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return slackbot.Pruned{}, fmt.Errorf("threadmap: prune finished jobs: %w", err)
	}
	return p, nil
}

const jobColumns = `id, team_id, channel_id, root_ts, thread_id, kind, payload, state, run_id, reply_ts,
	last_event_id, delivered, error, attempts, lease_owner, lease_until, created_at, updated_at`

// AddJob inserts j unless a job with its ID exists. The job starts without a
// lease and with no attempts; an empty ThreadID is derived from the key, an
// empty State is accepted.
func (s *SQLiteStore) AddJob(ctx context.Context, j slackbot.Job) (bool, error) {
	r, err := s.Record(ctx, slackbot.Record{Job: &j})
	if err != nil {
		return false, fmt.Errorf("threadmap: add job: %w", err)
	}
	return r.JobAdded, nil
}

// Record writes r in one transaction, shared with the Records of other
// callers waiting at the same time; see Store.
func (s *SQLiteStore) Record(ctx context.Context, r slackbot.Record) (slackbot.Recorded, error) {
	return s.group.record(ctx, prepareRecord(r, s.clock()))
}

// prepareStatements prepares the statements of the ack path.
func (s *SQLiteStore) prepareStatements(ctx context.Context) error {
	var err error
	if s.groupStmts, err = prepareGroupStatements(ctx, s.write); err != nil {
		return err
	}
	s.selectConversation, err = s.read.PrepareContext(ctx, `SELECT team_id, channel_id, root_ts, thread_id,
			agent_id, test_run, skip_memory_write_protection, started_by, created_at, mentions_only
		FROM conversations WHERE team_id = ? AND channel_id = ? AND root_ts = ?`)
	return err
}

// writeRecords writes a group of Records in one write transaction.
func (s *SQLiteStore) writeRecords(ctx context.Context, group []*pendingRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.insertRecords(ctx, tx, group) })
}

// Job returns the job with id, or ErrNotFound.
func (s *SQLiteStore) Job(ctx context.Context, id string) (slackbot.Job, error) {
	j, err := scanSQLiteJob(s.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return slackbot.Job{}, sqliteErr("job", err)
	}
	return j, nil
}

// UnfinishedJobs counts the jobs of a thread that are not final.
func (s *SQLiteStore) UnfinishedJobs(ctx context.Context, threadID string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs
		WHERE thread_id = ? AND state NOT IN ('done', 'failed')`, threadID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("threadmap: unfinished jobs: %w", err)
	}
	return n, nil
}

// LeaseNextJob leases the next job that may be worked; see Store.
func (s *SQLiteStore) LeaseNextJob(ctx context.Context, owner string, ttl time.Duration) (slackbot.Job, error) {
	return s.lease(ctx, "", owner, ttl)
}

// lease leases the oldest job that may be worked now or, with an id, that
// job only if it may (LeaseJob): one statement, so both follow the same
// rules. The state tests repeat the partial indexes' predicate word for
// word so SQLite uses them. Lease times come from this process's clock,
// which is the database's clock too: every process sharing a SQLite file
// runs on one machine.
func (s *SQLiteStore) lease(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error) {
	if owner == "" {
		return slackbot.Job{}, errEmptyOwner
	}
	owner = newLeaseOwner(owner)
	now := s.clock()
	args := []any{owner, now.Add(ttl).UnixMicro(), now.UnixMicro()}
	byID := ""
	if id != "" {
		byID = "j.id = ? AND "
		args = append(args, id)
	}
	args = append(args, now.UnixMicro())
	j, err := scanSQLiteJob(s.write.QueryRowContext(ctx, `UPDATE jobs
		SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
		WHERE seq = (
			SELECT j.seq FROM jobs j
			WHERE `+byID+`j.state NOT IN ('done', 'failed') AND j.state <> 'paused'
			  AND (j.lease_until IS NULL OR j.lease_until <= ?)
			  AND NOT EXISTS (
				SELECT 1 FROM jobs o
				WHERE o.thread_id = j.thread_id AND o.state NOT IN ('done', 'failed') AND o.seq < j.seq)
			ORDER BY j.seq
			LIMIT 1)
		RETURNING `+jobColumns, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows) && id != "":
		if _, err := s.Job(ctx, id); err != nil {
			return slackbot.Job{}, err // ErrNotFound: no such job
		}
		return slackbot.Job{}, slackbot.ErrNoJob
	case errors.Is(err, sql.ErrNoRows):
		return slackbot.Job{}, slackbot.ErrNoJob
	case err != nil:
		return slackbot.Job{}, fmt.Errorf("threadmap: lease job: %w", err)
	}
	return j, nil
}

// RenewLease extends owner's lease to ttl from now. The lease is owner's as
// long as no one else took it: an expired lease nobody took over yet can
// still be renewed.
func (s *SQLiteStore) RenewLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	now := s.clock()
	res, err := s.write.ExecContext(ctx, `UPDATE jobs SET lease_until = ?, updated_at = ?
		WHERE id = ? AND lease_owner = ? AND lease_owner <> ''`,
		now.Add(ttl).UnixMicro(), now.UnixMicro(), jobID, owner)
	return s.leaseResult(ctx, "renew lease", jobID, res, err)
}

// UpdateJob saves the worker-owned fields of j while j.LeaseOwner holds the
// lease; a paused or final job gives its lease up.
func (s *SQLiteStore) UpdateJob(ctx context.Context, j slackbot.Job) error {
	res, err := s.write.ExecContext(ctx, `UPDATE jobs SET
			state = ?1, run_id = ?2, reply_ts = ?3, last_event_id = ?4, delivered = ?5, error = ?6, payload = ?7,
			updated_at = ?8,
			lease_owner = CASE WHEN ?1 IN ('paused', 'done', 'failed') THEN '' ELSE lease_owner END,
			lease_until = CASE WHEN ?1 IN ('paused', 'done', 'failed') THEN NULL ELSE lease_until END
		WHERE id = ?9 AND lease_owner = ?10 AND lease_owner <> ''`,
		j.State, j.RunID, j.ReplyTS, j.LastEventID, j.Delivered, j.Error, j.Payload,
		s.clock().UnixMicro(), j.ID, j.LeaseOwner)
	return s.leaseResult(ctx, "update job", j.ID, res, err)
}

// ReleaseLease frees owner's lease so any worker may take the job now.
func (s *SQLiteStore) ReleaseLease(ctx context.Context, jobID, owner string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE jobs SET lease_owner = '', lease_until = NULL, updated_at = ?
		WHERE id = ? AND lease_owner = ? AND lease_owner <> ''`,
		s.clock().UnixMicro(), jobID, owner)
	return s.leaseResult(ctx, "release lease", jobID, res, err)
}

// leaseResult turns the outcome of a lease-guarded update into nil,
// ErrLeaseLost or, for a job that does not exist, ErrNotFound.
func (s *SQLiteStore) leaseResult(ctx context.Context, op, jobID string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("threadmap: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("threadmap: %s: %w", op, err)
	}
	if n == 1 {
		return nil
	}
	var exists int
	if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE id = ?`, jobID).Scan(&exists); err != nil {
		return fmt.Errorf("threadmap: %s: %w", op, err)
	}
	if exists == 0 {
		return fmt.Errorf("threadmap: %s %s: %w", op, jobID, slackbot.ErrNotFound)
	}
	return slackbot.ErrLeaseLost
}

const cardColumns = `id, job_id, team_id, channel_id, root_ts, thread_id, post_channel_id, message_ts, started_by,
	interrupt, decision, decided_by, decided_at, created_at`

// SaveCard inserts c, or replaces the stored card with the same ID while that
// one is undecided. Decisions are only recorded by DecideCard: the decision
// fields of c are ignored, and a decided card is left as it is.
func (s *SQLiteStore) SaveCard(ctx context.Context, c slackbot.Card) error {
	c = prepareCard(c, s.clock())
	_, err := s.write.ExecContext(ctx, `INSERT INTO cards (id, job_id, team_id, channel_id, root_ts, thread_id,
			post_channel_id, message_ts, started_by, interrupt, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			job_id = excluded.job_id, team_id = excluded.team_id, channel_id = excluded.channel_id,
			root_ts = excluded.root_ts, thread_id = excluded.thread_id, post_channel_id = excluded.post_channel_id,
			message_ts = excluded.message_ts, started_by = excluded.started_by, interrupt = excluded.interrupt,
			created_at = excluded.created_at
		WHERE cards.decided_by = ''`,
		c.ID, c.JobID, c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ThreadID,
		c.ChannelID, c.MessageTS, c.StartedBy, c.Interrupt, c.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("threadmap: save card: %w", err)
	}
	return nil
}

// Card returns the card with id, or ErrNotFound.
func (s *SQLiteStore) Card(ctx context.Context, id string) (slackbot.Card, error) {
	c, err := scanSQLiteCard(s.read.QueryRowContext(ctx, `SELECT `+cardColumns+` FROM cards WHERE id = ?`, id))
	if err != nil {
		return slackbot.Card{}, sqliteErr("card", err)
	}
	return c, nil
}

// DecideCard records the first decision on a card and, in the same
// transaction, turns its paused job into a resume job; see Store.
func (s *SQLiteStore) DecideCard(ctx context.Context, id, by string, decision, resume []byte, at time.Time) (slackbot.Card, bool, error) {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cards SET decision = ?, decided_by = ?, decided_at = ?
			WHERE id = ? AND decided_by = ''`, decision, by, at.UnixMicro(), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		decided = n == 1
		card, err = scanSQLiteCard(tx.QueryRowContext(ctx, `SELECT `+cardColumns+` FROM cards WHERE id = ?`, id))
		if err != nil {
			return sqliteErr("card", err)
		}
		if !decided {
			return nil
		}
		_, err = tx.ExecContext(ctx, sqliteResumeJob, resume, now.UnixMicro(), card.JobID)
		return err
	})
	if err != nil {
		return slackbot.Card{}, false, fmt.Errorf("threadmap: decide card: %w", err)
	}
	return card, decided, nil
}

const sqliteResumeJob = `UPDATE jobs SET kind = 'resume', payload = ?, state = 'accepted',
		run_id = '', reply_ts = '', last_event_id = '', delivered = 0, error = '', attempts = 0,
		lease_owner = '', lease_until = NULL, updated_at = ?
	WHERE id = ? AND state = 'paused'`

// ResumeJob implements Store.
func (s *SQLiteStore) ResumeJob(ctx context.Context, jobID string, resume []byte) (bool, error) {
	var resumed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqliteResumeJob, resume, s.clock().UnixMicro(), jobID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		resumed = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("threadmap: resume job: %w", err)
	}
	return resumed, nil
}

func scanSQLiteJob(r interface{ Scan(...any) error }) (slackbot.Job, error) {
	var j slackbot.Job
	var leaseUntil sql.NullInt64
	var created, updated int64
	err := r.Scan(&j.ID, &j.Key.TeamID, &j.Key.ChannelID, &j.Key.RootTS, &j.ThreadID, &j.Kind, &j.Payload,
		&j.State, &j.RunID, &j.ReplyTS, &j.LastEventID, &j.Delivered, &j.Error, &j.Attempts,
		&j.LeaseOwner, &leaseUntil, &created, &updated)
	if err != nil {
		return slackbot.Job{}, err
	}
	if leaseUntil.Valid {
		j.LeaseUntil = fromMicros(leaseUntil.Int64)
	}
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	return j, nil
}

func scanSQLiteCard(r interface{ Scan(...any) error }) (slackbot.Card, error) {
	var c slackbot.Card
	var decidedAt sql.NullInt64
	var created int64
	err := r.Scan(&c.ID, &c.JobID, &c.Key.TeamID, &c.Key.ChannelID, &c.Key.RootTS, &c.ThreadID,
		&c.ChannelID, &c.MessageTS, &c.StartedBy, &c.Interrupt, &c.Decision, &c.DecidedBy, &decidedAt, &created)
	if err != nil {
		return slackbot.Card{}, err
	}
	if decidedAt.Valid {
		c.DecidedAt = fromMicros(decidedAt.Int64)
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// sqliteErr maps "no rows" to ErrNotFound.
func sqliteErr(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("threadmap: %s: %w", what, slackbot.ErrNotFound)
	}
	return fmt.Errorf("threadmap: %s: %w", what, err)
}
