package threadmap_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// leaseStores are the DSNs of a fresh store of each kind (PostgreSQL only
// with TEST_DATABASE_URL).
var leaseStores = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "threads.db") },
	"postgres": postgresSchema,
}

// RenewLeases renews the leases still held and reports every other one
// as lost, whatever the reason, leaving those jobs as they were.
func TestRenewLeases(t *testing.T) {
	for name, dsnOf := range leaseStores {
		t.Run(name, func(t *testing.T) {
			clk := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			s := openStore(t, dsnOf(t), func() time.Time { return clk })
			r := s.(threadmap.LeaseRenewer)
			ctx := t.Context()
			lease := func(id string) slackbot.Lease {
				t.Helper()
				if _, err := s.AddJob(ctx, slackbot.Job{ID: id, Key: slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}, Kind: "prompt"}); err != nil {
					t.Fatal(err)
				}
				j, err := s.(threadmap.JobLeaser).LeaseJob(ctx, id, "replica", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				return slackbot.Lease{JobID: j.ID, Owner: j.LeaseOwner}
			}
			held := lease("held")
			heldToo := lease("held-too")
			released := lease("released")
			if err := s.ReleaseLease(ctx, released.JobID, released.Owner); err != nil {
				t.Fatal(err)
			}
			done := lease("done")
			if err := s.UpdateJob(ctx, slackbot.Job{ID: done.JobID, LeaseOwner: done.Owner, State: slackbot.JobDone}); err != nil {
				t.Fatal(err)
			}
			// Expired and taken over by another worker of the same
			// replica: the old lease is lost, the new one held.
			expired := lease("taken-over")
			clk = clk.Add(2 * time.Minute)
			again, err := s.(threadmap.JobLeaser).LeaseJob(ctx, expired.JobID, "replica", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			takenOver := slackbot.Lease{JobID: again.ID, Owner: again.LeaseOwner}
			// Expired, nobody took it: still its owner's, as with RenewLease.
			clk = clk.Add(2 * time.Minute)
			missing := slackbot.Lease{JobID: "missing", Owner: held.Owner}
			bareName := slackbot.Lease{JobID: held.JobID, Owner: "replica"}

			renewedAt := clk
			lost, err := r.RenewLeases(ctx, []slackbot.Lease{held, released, expired, done, heldToo, takenOver, missing, bareName}, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if want := []slackbot.Lease{released, expired, done, missing, bareName}; !slices.Equal(lost, want) {
				t.Errorf("lost = %v; want %v", lost, want)
			}
			for _, tc := range []struct {
				lease slackbot.Lease
				owner string
				until time.Time
			}{
				{held, held.Owner, renewedAt.Add(10 * time.Minute)},
				{heldToo, heldToo.Owner, renewedAt.Add(10 * time.Minute)},
				{takenOver, takenOver.Owner, renewedAt.Add(10 * time.Minute)},
				{released, "", time.Time{}},
				{done, "", time.Time{}},
			} {
				j, err := s.Job(ctx, tc.lease.JobID)
				if err != nil {
					t.Fatal(err)
				}
				if j.LeaseOwner != tc.owner || !j.LeaseUntil.Equal(tc.until) {
					t.Errorf("job %s: lease %q until %v; want %q until %v", j.ID, j.LeaseOwner, j.LeaseUntil, tc.owner, tc.until)
				}
			}
			if lost, err := r.RenewLeases(ctx, nil, time.Minute); err != nil || lost != nil {
				t.Errorf("RenewLeases(none) = %v, %v; want nothing", lost, err)
			}
		})
	}
}

// A replica's leases are renewed in one statement, however many; on
// SQLite one per thousand, so the single writer is not held for long.
// SQLite's changes() counts the rows the last statement changed; in
// PostgreSQL rows written by one statement share a transaction id (xmin).
func TestRenewLeasesIsOneStatement(t *testing.T) {
	const n = 2500
	for name, dsnOf := range leaseStores {
		t.Run(name, func(t *testing.T) {
			dsn := dsnOf(t)
			s := openStore(t, dsn, time.Now)
			ctx := t.Context()
			held := make([]slackbot.Lease, n)
			for i := range held {
				id := fmt.Sprintf("job-%05d", i)
				if _, err := s.AddJob(ctx, slackbot.Job{ID: id, Key: slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}, Kind: "prompt"}); err != nil {
					t.Fatal(err)
				}
				held[i] = slackbot.Lease{JobID: id}
			}
			for i := range held {
				j, err := s.LeaseNextJob(ctx, "replica", time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				held[i] = slackbot.Lease{JobID: j.ID, Owner: j.LeaseOwner}
			}
			lost, err := s.(threadmap.LeaseRenewer).RenewLeases(ctx, held, 2*time.Hour)
			if err != nil || len(lost) != 0 {
				t.Fatalf("RenewLeases = %d lost, %v; want all %d renewed", len(lost), err, n)
			}
			switch s := s.(type) {
			case *threadmap.SQLiteStore:
				if changed, err := threadmap.SQLiteChanges(ctx, s); err != nil || changed != n%1000 {
					t.Errorf("the last statement changed %d rows (%v); want %d (chunks of 1,000)", changed, err, n%1000)
				}
			case *threadmap.PostgresStore:
				if txs := postgresWriters(t, dsn); txs != 1 {
					t.Errorf("the leases were renewed by %d transactions; want 1", txs)
				}
			}
		})
	}
}

// postgresWriters counts the transactions that last wrote the jobs table's
// rows.
func postgresWriters(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(DISTINCT xmin::text) FROM jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
