package threadmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// TestPostgresLeasesUseTheDatabaseClock: two replicas whose clocks are 30 s
// ahead and 30 s behind share one database. Neither takes a job the other
// leased moments ago, whichever is ahead: lease times come from the
// database's clock, not from the replicas'.
func TestPostgresLeasesUseTheDatabaseClock(t *testing.T) {
	dsn := postgresSchema(t)
	open := func(skew time.Duration) threadmap.Store {
		s, err := threadmap.Open(t.Context(), dsn, threadmap.WithProcessClock(func() time.Time { return time.Now().Add(skew) }))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ahead, behind := open(30*time.Second), open(-30*time.Second)
	ctx := t.Context()
	for i, tc := range []struct {
		name         string
		owner, thief threadmap.Store
	}{
		{"owner behind, thief ahead", behind, ahead},
		{"owner ahead, thief behind", ahead, behind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "skew-" + string(rune('a'+i))
			if _, err := tc.owner.AddJob(ctx, slackbot.Job{ID: id, Key: slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}, Kind: "prompt"}); err != nil {
				t.Fatalf("AddJob: %v", err)
			}
			leased, err := tc.owner.LeaseNextJob(ctx, "owner", 20*time.Second)
			if err != nil || leased.ID != id {
				t.Fatalf("owner LeaseNextJob = %q, %v; want %s", leased.ID, err, id)
			}
			if until := time.Until(leased.LeaseUntil); until < 10*time.Second || until > 25*time.Second {
				t.Errorf("lease runs %v from the real now; want about 20s, whatever the owner's clock says", until)
			}
			if j, err := tc.thief.LeaseNextJob(ctx, "thief", 20*time.Second); !errors.Is(err, slackbot.ErrNoJob) {
				t.Fatalf("the other replica leased %q, %v while the owner's lease is live; want ErrNoJob", j.ID, err)
			}
			if err := tc.owner.RenewLease(ctx, id, leased.LeaseOwner, 20*time.Second); err != nil {
				t.Fatalf("owner RenewLease: %v", err)
			}
			if j, err := tc.thief.LeaseNextJob(ctx, "thief", 20*time.Second); !errors.Is(err, slackbot.ErrNoJob) {
				t.Fatalf("the other replica leased %q, %v after the owner renewed; want ErrNoJob", j.ID, err)
			}
			leased.State = slackbot.JobDone
			if err := tc.owner.UpdateJob(ctx, leased); err != nil {
				t.Fatalf("owner UpdateJob: %v", err)
			}
		})
	}
}

// TestMistypedDatabaseURL: a URL of an unknown scheme is refused before
// anything is opened or created, and the error masks its password.
func TestMistypedDatabaseURL(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	for _, dsn := range []string{
		"pgsql://bot:s3cr3t-pw@db.internal:5432/slackbot",
		"postgress://bot:s3cr3t-pw@db.internal/slackbot?sslmode=require",
		"mysql://bot:s3cr3t-pw@db.internal/slackbot",
		"pgsql://bot@db.internal/slackbot?password=s3cr3t-pw",
		"pgsql://bot:s3cr3t-pw@db.internal:bad-port/slack%zz",
		"pgsql:bot:s3cr3t-pw@db.internal/slackbot",
	} {
		s, err := threadmap.Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded; want an error", threadmap.RedactDSN(dsn))
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("error for a mistyped URL shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "unknown scheme") {
			t.Errorf("error %q does not say the scheme is unknown", err)
		}
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 0 {
		t.Errorf("mistyped URLs left files behind: %v", entries)
	}
	for _, dsn := range []string{filepath.Join(tmp, "ok.db"), "sqlite:" + filepath.Join(tmp, "ok2.db"), "postgres://u:p@h/db", "postgresql://h/db"} {
		if err := threadmap.CheckDSN(dsn); err != nil {
			t.Errorf("CheckDSN(%q) = %v; want nil", threadmap.RedactDSN(dsn), err)
		}
	}
}
