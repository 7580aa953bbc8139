package threadmap

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/deepagents-slack/slackbot"
)

// The write connection leaves checkpoints to the checkpointer (its own
// threshold is only a backstop), and a checkpointer pass copies every
// committed frame into the database file.
func TestSQLiteCheckpointsOffTheWriteConnection(t *testing.T) {
	ctx := t.Context()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.write.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != sqliteAutoCheckpoint {
		t.Fatalf("write connection wal_autocheckpoint = %d, %v; want %d", auto, err, sqliteAutoCheckpoint)
	}
	// A commit is durable once its WAL frames are fsynced: synchronous
	// FULL (2), which is what makes leaving the checkpoint for later safe.
	var sync int
	if err := s.write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("write connection synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	for i := range 50 {
		if _, err := s.Record(ctx, slackbot.Record{DeliveryID: fmt.Sprintf("event:Ev%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if s.ckpt == nil {
		t.Fatal("a file store has no checkpointer")
	}
	if err := s.ckpt.checkpoint(); err != nil {
		t.Fatal(err)
	}
	var busy, log, done int
	if err := s.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 || log == 0 || done != log {
		t.Errorf("after a checkpointer pass: busy %d, %d frames in the WAL, %d checkpointed; want all checkpointed", busy, log, done)
	}
	// The data is all there, of course.
	if first, err := s.ClaimDelivery(ctx, "event:Ev49"); err != nil || first {
		t.Errorf("ClaimDelivery of a recorded id = %v, %v; want false", first, err)
	}
}
