package threadmap_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

func TestLeaseJob(t *testing.T) {
	stores := map[string]func(t *testing.T, now func() time.Time) threadmap.Store{
		"sqlite": func(t *testing.T, now func() time.Time) threadmap.Store {
			return openStore(t, filepath.Join(t.TempDir(), "threads.db"), now)
		},
		"postgres": func(t *testing.T, now func() time.Time) threadmap.Store {
			return openStore(t, postgresSchema(t), now)
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			s := open(t, func() time.Time { return now })
			l, ok := s.(threadmap.JobLeaser)
			if !ok {
				t.Fatalf("%T does not implement JobLeaser", s)
			}
			ctx := t.Context()
			k := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "1.1"}
			other := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "2.2"}
			for _, j := range []slackbot.Job{
				{ID: "older-elsewhere", Key: other, Kind: "prompt"},
				{ID: "first", Key: k, Kind: "prompt"},
				{ID: "second", Key: k, Kind: "prompt"},
			} {
				if _, err := s.AddJob(ctx, j); err != nil {
					t.Fatal(err)
				}
			}

			if _, err := l.LeaseJob(ctx, "missing", "cli", time.Minute); !errors.Is(err, slackbot.ErrNotFound) {
				t.Fatalf("missing job: err = %v, want ErrNotFound", err)
			}
			// Jobs of one conversation run in order: the second waits.
			if _, err := l.LeaseJob(ctx, "second", "cli", time.Minute); !errors.Is(err, slackbot.ErrNoJob) {
				t.Fatalf("second job while the first is open: err = %v, want ErrNoJob", err)
			}
			// The job asked for is leased even though an older job of
			// another conversation is waiting.
			j, err := l.LeaseJob(ctx, "first", "cli", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if j.ID != "first" || !strings.HasPrefix(j.LeaseOwner, "cli/") || j.Attempts != 1 {
				t.Fatalf("leased %+v", j)
			}
			if _, err := l.LeaseJob(ctx, "first", "replica", time.Minute); !errors.Is(err, slackbot.ErrNoJob) {
				t.Fatalf("leased twice: err = %v, want ErrNoJob", err)
			}
			if next, err := s.LeaseNextJob(ctx, "replica", time.Minute); err != nil || next.ID != "older-elsewhere" {
				t.Fatalf("LeaseNextJob = %v, %v; want the other conversation's job", next.ID, err)
			}
			// An expired lease can be taken over.
			now = now.Add(2 * time.Minute)
			j, err = l.LeaseJob(ctx, "first", "replica", time.Minute)
			if err != nil || !strings.HasPrefix(j.LeaseOwner, "replica/") || j.Attempts != 2 {
				t.Fatalf("takeover: %+v, %v", j, err)
			}
			j.State = slackbot.JobDone
			if err := s.UpdateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
			if _, err := l.LeaseJob(ctx, "first", "cli", time.Minute); !errors.Is(err, slackbot.ErrNoJob) {
				t.Fatalf("final job: err = %v, want ErrNoJob", err)
			}
			if j, err := l.LeaseJob(ctx, "second", "cli", time.Minute); err != nil || j.ID != "second" {
				t.Fatalf("second after the first is done: %+v, %v", j, err)
			}
		})
	}
}
