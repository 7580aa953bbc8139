package threadmap_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
	"github.com/deepagents-slack/slackbot/internal/threadmap/storetest"
)

func TestSQLiteFileStore(t *testing.T) {
	storetest.RunStoreSuite(t, func(t *testing.T, now func() time.Time) threadmap.Store {
		return openStore(t, filepath.Join(t.TempDir(), "threads.db"), now)
	})
}

func TestSQLiteMemoryStore(t *testing.T) {
	for _, dsn := range []string{":memory:", "sqlite::memory:"} {
		t.Run(dsn, func(t *testing.T) {
			storetest.RunStoreSuite(t, func(t *testing.T, now func() time.Time) threadmap.Store {
				return openStore(t, dsn, now)
			})
		})
	}
}

func TestPostgresStore(t *testing.T) {
	storetest.RunStoreSuite(t, func(t *testing.T, now func() time.Time) threadmap.Store {
		return openStore(t, postgresSchema(t), now)
	})
}

func openStore(t *testing.T, dsn string, now func() time.Time) threadmap.Store {
	t.Helper()
	s, err := threadmap.Open(t.Context(), dsn, threadmap.WithClock(now))
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// postgresSchema is an empty schema of its own for one store test.
func postgresSchema(t *testing.T) string { return storetest.PostgresSchema(t, "threadmap_test") }

func TestOpenPicksBackend(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		dsn      string
		wantFile string
	}{
		{"", filepath.Join(dir, threadmap.DefaultSQLitePath)},
		{"sqlite:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"sqlite://" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")},
		{filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
		{"relative.db", filepath.Join(dir, "relative.db")},
	}
	for _, tc := range tests {
		s := openStore(t, tc.dsn, time.Now)
		if _, ok := s.(*threadmap.SQLiteStore); !ok {
			t.Errorf("Open(%q) = %T; want *threadmap.SQLiteStore", tc.dsn, s)
		}
		if _, err := os.Stat(tc.wantFile); err != nil {
			t.Errorf("Open(%q): database file: %v", tc.dsn, err)
		}
	}
}

func TestOpenRejectsBadDSN(t *testing.T) {
	tests := []string{
		"postgres://user:secret@localhost:1/db?pool_max_conns=zero",
		"postgresql://user:secret@localhost:1/db?pool_max_conns=0",
		"sqlite:odd?name.db",
	}
	for _, dsn := range tests {
		s, err := threadmap.Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded; want an error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error %q shows the password", dsn, err)
		}
	}
}

func TestSQLitePersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "threads.db")
	ctx := t.Context()
	k := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "1700000000.000100"}

	s, err := threadmap.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	conv, err := s.BindConversation(ctx, slackbot.Conversation{Key: k, AgentID: "agent-a"})
	if err != nil {
		t.Fatalf("BindConversation: %v", err)
	}
	if _, err := s.ClaimDelivery(ctx, "Ev1"); err != nil {
		t.Fatalf("ClaimDelivery: %v", err)
	}
	if _, err := s.AddJob(ctx, slackbot.Job{ID: "Ev1", Key: k, Kind: "prompt"}); err != nil {
		t.Fatalf("AddJob: %v", err)
	}
	leased, err := s.LeaseNextJob(ctx, "w1", time.Hour)
	if err != nil {
		t.Fatalf("LeaseNextJob: %v", err)
	}
	if err := s.SaveCard(ctx, slackbot.Card{ID: "card-1", JobID: "Ev1", Key: k}); err != nil {
		t.Fatalf("SaveCard: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, path, time.Now)
	if got, err := s.Conversation(ctx, k); err != nil || got != conv {
		t.Errorf("Conversation after reopen = %+v, %v; want %+v", got, err, conv)
	}
	if ok, err := s.ClaimDelivery(ctx, "Ev1"); err != nil || ok {
		t.Errorf("ClaimDelivery(Ev1) after reopen = %v, %v; want false", ok, err)
	}
	if got, err := s.Job(ctx, "Ev1"); err != nil || got.LeaseOwner != leased.LeaseOwner || !got.LeaseUntil.Equal(leased.LeaseUntil) {
		t.Errorf("Job after reopen = %+v, %v; want leased by w1 until %v", got, err, leased.LeaseUntil)
	}
	if _, err := s.Card(ctx, "card-1"); err != nil {
		t.Errorf("Card after reopen: %v", err)
	}
	if n, want := countMigrations(t, path), migrationCount(t, "sqlite"); n != want {
		t.Errorf("schema_migrations has %d rows after two opens; want %d (one per migration)", n, want)
	}
}

func countMigrations(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	return n
}

// TestSQLiteSharedFile opens one file twice at once, as two processes would
// (each store has its own connections), and races both on the same work:
// nothing fails with SQLITE_BUSY and everything still happens once.
func TestSQLiteSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := openConcurrently(t, path, path)

	const ids = 50
	claims := make([][]bool, len(stores))
	errs := make([]error, len(stores)*2)
	var wg sync.WaitGroup
	for si, s := range stores {
		claims[si] = make([]bool, ids)
		for g := range 2 {
			wg.Go(func() {
				for i := range ids {
					id := fmt.Sprintf("Ev%d", i)
					ok, err := s.ClaimDelivery(t.Context(), id)
					if err != nil {
						errs[si*2+g] = err
						return
					}
					if ok {
						claims[si][i] = true // only the winner writes
						key := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}
						if _, err := s.AddJob(t.Context(), slackbot.Job{ID: id, Key: key, Kind: "prompt"}); err != nil {
							errs[si*2+g] = err
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("racing two handles: %v", err)
	}
	for i := range ids {
		if claims[0][i] == claims[1][i] {
			t.Errorf("Ev%d claimed by both or neither store", i)
		}
	}

	leased := make([][]string, len(stores))
	for si, s := range stores {
		wg.Go(func() {
			for {
				j, err := s.LeaseNextJob(t.Context(), fmt.Sprintf("w%d", si), time.Hour)
				if errors.Is(err, slackbot.ErrNoJob) {
					return
				}
				if err != nil {
					errs[si] = err
					return
				}
				leased[si] = append(leased[si], j.ID)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("leasing from two handles: %v", err)
	}
	seen := map[string]bool{}
	for _, ids := range leased {
		for _, id := range ids {
			if seen[id] {
				t.Errorf("job %s leased twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != ids {
		t.Errorf("%d jobs leased; want %d", len(seen), ids)
	}
	if n, want := countMigrations(t, path), migrationCount(t, "sqlite"); n != want {
		t.Errorf("schema_migrations has %d rows; want %d (one per migration)", n, want)
	}
}

// TestPostgresConcurrentOpen starts two stores on one fresh schema at once:
// the migrations run once and both stores work.
func TestPostgresConcurrentOpen(t *testing.T) {
	dsn := postgresSchema(t)
	stores := openConcurrently(t, dsn, dsn, dsn)
	for i, s := range stores {
		if ok, err := s.ClaimDelivery(t.Context(), "Ev1"); err != nil || ok != (i == 0) {
			t.Errorf("store %d ClaimDelivery = %v, %v; want %v", i, ok, err, i == 0)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != migrationCount(t, "postgres") {
		t.Errorf("schema_migrations rows = %d, %v; want %d (one per migration)", n, err, migrationCount(t, "postgres"))
	}
}

func openConcurrently(t *testing.T, dsns ...string) []threadmap.Store {
	t.Helper()
	stores := make([]threadmap.Store, len(dsns))
	errs := make([]error, len(dsns))
	var wg sync.WaitGroup
	for i, dsn := range dsns {
		wg.Go(func() { stores[i], errs[i] = threadmap.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
	return stores
}

// BenchmarkSQLiteClaimAndAddJob measures what the Slack event path pays for
// exactly-once handling: claim the delivery, then record its job.
func BenchmarkSQLiteClaimAndAddJob(b *testing.B) {
	s, err := threadmap.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	defer s.Close()
	var n int
	for b.Loop() {
		n++
		id := fmt.Sprintf("Ev%d", n)
		if ok, err := s.ClaimDelivery(b.Context(), id); err != nil || !ok {
			b.Fatalf("ClaimDelivery = %v, %v", ok, err)
		}
		key := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}
		if ok, err := s.AddJob(b.Context(), slackbot.Job{ID: id, Key: key, Kind: "prompt", Payload: []byte(`{"text":"hi"}`)}); err != nil || !ok {
			b.Fatalf("AddJob = %v, %v", ok, err)
		}
	}
}

// migrationCount is how many migrations a dialect has (its .sql files).
func migrationCount(t *testing.T, dialect string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", dialect, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s migrations found: %v", dialect, err)
	}
	return len(files)
}
