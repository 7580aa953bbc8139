package threadmap_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// TestRecordGroupWithFailure writes one group in which one Record fails in
// the database (a trigger refuses its job) and one repeats another: the
// failure is that caller's alone, the others are recorded with the results
// they would have had on their own.
func TestRecordGroupWithFailure(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) threadmap.Store
	}{
		{"sqlite", func(t *testing.T) threadmap.Store {
			path := filepath.Join(t.TempDir(), "group.db")
			s := openStore(t, path, time.Now)
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(t.Context(), `CREATE TRIGGER poison BEFORE INSERT ON jobs
				WHEN NEW.kind = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned job'); END`); err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"postgres", func(t *testing.T) threadmap.Store {
			dsn := postgresSchema(t)
			s := openStore(t, dsn, time.Now)
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			if _, err := conn.Exec(t.Context(), `CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN IF NEW.kind = 'poison' THEN RAISE EXCEPTION 'poisoned job'; END IF; RETURN NEW; END $$`); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(t.Context(), `CREATE TRIGGER poison BEFORE INSERT ON jobs
				FOR EACH ROW EXECUTE FUNCTION poison()`); err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			rec := func(id, kind string) slackbot.Record {
				k := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}
				return slackbot.Record{
					Conversation: &slackbot.Conversation{Key: k, AgentID: "agent-1"},
					Job:          &slackbot.Job{ID: "msg:" + id, Key: k, Kind: kind},
					DeliveryID:   "event:" + id,
				}
			}
			group := []slackbot.Record{rec("1", "prompt"), rec("2", "poison"), rec("3", "prompt"), rec("1", "prompt")}
			res, errs := threadmap.RecordGroup(s, group)

			if errs[1] == nil {
				t.Errorf("poisoned Record succeeded: %+v", res[1])
			}
			want := []slackbot.Recorded{{JobAdded: true, DeliveryClaimed: true}, {}, {JobAdded: true, DeliveryClaimed: true}, {}}
			for i := range group {
				if i != 1 && (errs[i] != nil || res[i] != want[i]) {
					t.Errorf("Record %d = %+v, %v; want %+v, nil", i, res[i], errs[i], want[i])
				}
			}
			for _, id := range []string{"1", "3"} {
				if _, err := s.Job(t.Context(), "msg:"+id); err != nil {
					t.Errorf("job %s: %v", id, err)
				}
			}
			// Nothing of the failed Record was written: not its job, nor
			// its conversation, nor its delivery claim.
			if _, err := s.Job(t.Context(), "msg:2"); err == nil {
				t.Error("the poisoned job was recorded")
			}
			if _, err := s.Conversation(t.Context(), slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: "2"}); err == nil {
				t.Error("the failed Record's conversation was bound")
			}
			if ok, err := s.ClaimDelivery(t.Context(), "event:2"); err != nil || !ok {
				t.Errorf("ClaimDelivery(event:2) = %v, %v; want the failed Record's delivery unclaimed", ok, err)
			}
		})
	}
}

// BenchmarkRecordConcurrent measures Records of distinct deliveries from
// many goroutines at once (as concurrent acks make them): with group commit
// they share transactions and fsyncs.
func BenchmarkRecordConcurrent(b *testing.B) {
	s, err := threadmap.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(8)
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint(n.Add(1))
			k := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: id}
			r, err := s.Record(b.Context(), slackbot.Record{
				Conversation: &slackbot.Conversation{Key: k, AgentID: "agent-1"},
				Job:          &slackbot.Job{ID: "msg:" + id, Key: k, Kind: "prompt", Payload: []byte(`{"text":"hi"}`)},
				DeliveryID:   "event:" + id,
			})
			if err != nil || !r.JobAdded {
				b.Fatalf("Record = %+v, %v", r, err)
			}
		}
	})
}

// BenchmarkOpenWorkLookups measures the reads that find a thread's open
// work (the count on a reply's ack path, a thread's current job, leasing)
// with 10,000 open jobs of distinct threads and 10,000 finished ones, as a
// replica following thousands of runs holds: they scan the open jobs'
// covering index (migration 0006) rather than look the thread up.
func BenchmarkOpenWorkLookups(b *testing.B) {
	const open = 10_000
	s, err := threadmap.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := make([]slackbot.Record, 0, 200)
	for i := range 2 * open {
		k := slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: fmt.Sprintf("1700000000.%06d", i)}
		state := slackbot.JobAccepted
		if i%2 == 1 {
			state = slackbot.JobDone
		}
		recs = append(recs, slackbot.Record{Job: &slackbot.Job{ID: "msg:" + k.RootTS, Key: k, Kind: "prompt", State: state}})
		if len(recs) == cap(recs) {
			if _, errs := threadmap.RecordGroup(s, recs); errors.Join(errs...) != nil {
				b.Fatal(errors.Join(errs...))
			}
			recs = recs[:0]
		}
	}
	// The newest thread: its job is last in the index.
	last := slackbot.ThreadID(slackbot.Key{TeamID: "T1", ChannelID: "C1", RootTS: fmt.Sprintf("1700000000.%06d", 2*open-2)})
	b.Run("UnfinishedJobs", func(b *testing.B) {
		for b.Loop() {
			if n, err := s.UnfinishedJobs(b.Context(), last); err != nil || n != 1 {
				b.Fatalf("UnfinishedJobs = %d, %v", n, err)
			}
		}
	})
	b.Run("CurrentJob", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CurrentJob(b.Context(), last); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Every open job leased, then a new one: each lease walks the leased
	// ones first, as a replica holding that many runs does.
	held := make([]slackbot.Lease, 0, open)
	for range open {
		j, err := s.LeaseNextJob(b.Context(), "w1", time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		held = append(held, slackbot.Lease{JobID: j.ID, Owner: j.LeaseOwner})
	}
	// A replica's lease keeper renewing all of them, as every third of
	// LEASE_TTL.
	renewer := s.(interface {
		RenewLeases(context.Context, []slackbot.Lease, time.Duration) ([]slackbot.Lease, error)
	})
	b.Run("RenewLeases", func(b *testing.B) {
		for b.Loop() {
			if lost, err := renewer.RenewLeases(b.Context(), held, time.Hour); err != nil || len(lost) > 0 {
				b.Fatalf("RenewLeases: %d lost, %v", len(lost), err)
			}
		}
	})
	b.Run("LeaseNextJob", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			k := slackbot.Key{TeamID: "T1", ChannelID: "C2", RootTS: fmt.Sprint(n)}
			if _, err := s.AddJob(b.Context(), slackbot.Job{ID: "msg:C2:" + k.RootTS, Key: k, Kind: "prompt", State: slackbot.JobAccepted}); err != nil {
				b.Fatal(err)
			}
			if _, err := s.LeaseNextJob(b.Context(), "w1", time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}
