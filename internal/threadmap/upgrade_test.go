package threadmap_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// The newest migration must upgrade a database that holds data: each test
// builds one at the version before it (the migration files themselves,
// applied as Open applies them), fills it with open and finished work, opens
// it with the store and checks that the rows survived and the work is
// still leased in order.

// upgradeRows is what the database holds before the upgrade, written against
// the schema every released version has had since 0001: thread A has two
// open jobs (a1 before a2) and a finished one, thread B one open job; a1 has
// a card.
var upgradeRows = map[string][]string{
	"sqlite": {
		`INSERT INTO conversations (team_id, channel_id, root_ts, thread_id, agent_id, created_at)
			VALUES ('T1', 'C1', '1.0', 'thread-a', 'agent-1', 1)`,
		`INSERT INTO jobs (id, team_id, channel_id, root_ts, thread_id, kind, state, created_at, updated_at) VALUES
			('a0', 'T1', 'C1', '1.0', 'thread-a', 'prompt', 'done', 1, 1),
			('a1', 'T1', 'C1', '1.0', 'thread-a', 'prompt', 'accepted', 2, 2),
			('b1', 'T1', 'C1', '2.0', 'thread-b', 'prompt', 'accepted', 3, 3),
			('a2', 'T1', 'C1', '1.0', 'thread-a', 'prompt', 'accepted', 4, 4)`,
		`INSERT INTO cards (id, job_id, team_id, channel_id, root_ts, thread_id, created_at)
			VALUES ('card-a1', 'a1', 'T1', 'C1', '1.0', 'thread-a', 5)`,
		`INSERT INTO deliveries (id, claimed_at) VALUES ('Ev1', 6)`,
	},
	"postgres": {
		`INSERT INTO conversations (team_id, channel_id, root_ts, thread_id, agent_id, created_at)
			VALUES ('T1', 'C1', '1.0', 'thread-a', 'agent-1', now())`,
		`INSERT INTO jobs (id, team_id, channel_id, root_ts, thread_id, kind, state, created_at, updated_at) VALUES
			('a0', 'T1', 'C1', '1.0', 'thread-a', 'prompt', 'done', now(), now()),
			('a1', 'T1', 'C1', '1.0', 'thread-a', 'prompt', 'accepted', now(), now()),
			('b1', 'T1', 'C1', '2.0', 'thread-b', 'prompt', 'accepted', now(), now()),
			('a2', 'T1', 'C1', '1.0', 'thread-a', 'prompt', 'accepted', now(), now())`,
		`INSERT INTO cards (id, job_id, team_id, channel_id, root_ts, thread_id, created_at)
			VALUES ('card-a1', 'a1', 'T1', 'C1', '1.0', 'thread-a', now())`,
		`INSERT INTO deliveries (id, claimed_at) VALUES ('Ev1', now())`,
	},
}

// previousMigrations are a dialect's migration files but the newest, in
// order, with their versions.
func previousMigrations(t *testing.T, dialect string) (versions []int, names, bodies []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", dialect, "*.sql"))
	if err != nil || len(files) < 2 {
		t.Fatalf("%s migrations: %d files, %v; want at least two", dialect, len(files), err)
	}
	sort.Strings(files)
	for _, f := range files[:len(files)-1] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		prefix, _, _ := strings.Cut(filepath.Base(f), "_")
		v, err := strconv.Atoi(prefix)
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		versions = append(versions, v)
		names = append(names, filepath.Base(f))
		bodies = append(bodies, string(b))
	}
	return versions, names, bodies
}

func TestSQLiteUpgradeKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	versions, names, bodies := previousMigrations(t, "sqlite")
	for i := range versions {
		exec(bodies[i])
		exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, versions[i], names[i])
	}
	for _, q := range upgradeRows["sqlite"] {
		exec(q)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path, time.Now)
	checkUpgraded(t, s)
	if n, want := countMigrations(t, path), migrationCount(t, "sqlite"); n != want {
		t.Errorf("schema_migrations has %d rows after the upgrade; want %d", n, want)
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var parent string
	if err := db.QueryRowContext(t.Context(), `SELECT "table" FROM pragma_foreign_key_list('cards')`).Scan(&parent); err != nil || parent != "jobs" {
		t.Errorf("cards references %q, %v; want jobs", parent, err)
	}
	rows, err := db.QueryContext(t.Context(), `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("PRAGMA foreign_key_check reports rows without their parent after the upgrade")
	}
}

func TestPostgresUpgradeKeepsData(t *testing.T) {
	dsn := postgresSchema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(t.Context(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`)
	versions, names, bodies := previousMigrations(t, "postgres")
	for i := range versions {
		exec(bodies[i])
		exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`, versions[i], names[i])
	}
	for _, q := range upgradeRows["postgres"] {
		exec(q)
	}
	s := openStore(t, dsn, time.Now)
	checkUpgraded(t, s)
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != migrationCount(t, "postgres") {
		t.Errorf("schema_migrations rows = %d, %v after the upgrade; want %d", n, err, migrationCount(t, "postgres"))
	}
}

// checkUpgraded checks a store opened on upgradeRows.
func checkUpgraded(t *testing.T, s threadmap.Store) {
	t.Helper()
	ctx := t.Context()
	if c, err := s.Conversation(ctx, slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "1.0"}); err != nil || c.ThreadID != "thread-a" {
		t.Errorf("Conversation = %+v, %v; want thread-a", c, err)
	}
	if c, err := s.Card(ctx, "card-a1"); err != nil || c.JobID != "a1" {
		t.Errorf("Card = %+v, %v; want job a1", c, err)
	}
	if err := s.SaveCard(ctx, slackbot.Card{ID: "card-x", JobID: "no-such-job", Key: slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "1.0"}}); err == nil {
		t.Error("SaveCard for a job that does not exist succeeded; want the foreign key to refuse it")
	}
	if ok, err := s.ClaimDelivery(ctx, "Ev1"); err != nil || ok {
		t.Errorf("ClaimDelivery(Ev1) = %v, %v; want false (claimed before the upgrade)", ok, err)
	}
	if n, err := s.UnfinishedJobs(ctx, "thread-a"); err != nil || n != 2 {
		t.Errorf("UnfinishedJobs(thread-a) = %d, %v; want 2", n, err)
	}
	// A new job of thread B after the upgrade queues behind b1.
	key := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "2.0"}
	if ok, err := s.AddJob(ctx, slackbot.Job{ID: "b2", Key: key, ThreadID: "thread-b", Kind: "prompt", State: slackbot.JobAccepted}); err != nil || !ok {
		t.Fatalf("AddJob(b2) = %v, %v; want added", ok, err)
	}
	if ok, err := s.AddJob(ctx, slackbot.Job{ID: "a1", Key: key, ThreadID: "thread-a", Kind: "prompt"}); err != nil || ok {
		t.Errorf("AddJob(a1) = %v, %v; want a duplicate", ok, err)
	}
	// One job per thread at a time, oldest first: a1, then b1; a2 and b2
	// wait for them.
	for _, want := range []string{"a1", "b1"} {
		j, err := s.LeaseNextJob(ctx, "w1", time.Minute)
		if err != nil || j.ID != want {
			t.Fatalf("LeaseNextJob = %q, %v; want %q", j.ID, err, want)
		}
	}
	if j, err := s.LeaseNextJob(ctx, "w1", time.Minute); !errors.Is(err, slackbot.ErrNoJob) {
		t.Fatalf("LeaseNextJob = %q, %v; want ErrNoJob (a2 and b2 wait for their threads)", j.ID, err)
	}
	a1, err := s.Job(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	a1.State = slackbot.JobDone
	if err := s.UpdateJob(ctx, a1); err != nil {
		t.Fatalf("UpdateJob(a1 done): %v", err)
	}
	if j, err := s.LeaseNextJob(ctx, "w1", time.Minute); err != nil || j.ID != "a2" {
		t.Fatalf("LeaseNextJob after a1 finished = %q, %v; want a2", j.ID, err)
	}
	if n, err := s.UnfinishedJobs(ctx, "thread-a"); err != nil || n != 1 {
		t.Errorf("UnfinishedJobs(thread-a) = %d, %v; want 1", n, err)
	}
	if j, err := s.CurrentJob(ctx, "thread-b"); err != nil || j.ID != "b1" {
		t.Errorf("CurrentJob(thread-b) = %q, %v; want b1", j.ID, err)
	}
}
