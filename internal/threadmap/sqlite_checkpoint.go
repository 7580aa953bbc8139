package threadmap

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// SQLite copies the WAL back into the database file (a checkpoint) by
// itself once the WAL reaches wal_autocheckpoint pages, and it does so in
// the transaction's COMMIT: the group commit that crosses the threshold
// writes and fsyncs the database file too, while every ack queued behind it
// waits. The store runs checkpoints on a connection of their own instead,
// on a timer, so the write connection only appends to the WAL. Durability
// is unchanged: a transaction is durable once its WAL frames are fsynced
// (synchronous=FULL), whether or not they were checkpointed yet.

// sqliteCheckpointEvery is how often the checkpointer copies committed WAL
// frames into the database file; it bounds the WAL to about this much of
// writes.
const sqliteCheckpointEvery = 500 * time.Millisecond

// sqliteAutoCheckpoint is the write connection's own checkpoint threshold
// (pages): a backstop that bounds the WAL should the checkpointer fall
// behind (SQLite's default is 1000).
const sqliteAutoCheckpoint = 10000

// checkpointer runs PASSIVE checkpoints on its own connection: they never
// wait for a writer or block one (sqlite.org/c3ref/wal_checkpoint_v2.html).
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
	once sync.Once // Close may be called again (the store's other parts allow it)
	err  error
}

func startCheckpointer(path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(sqliteCheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// A failed or partial checkpoint (a reader still on old frames)
			// is simply done again at the next tick; until then the WAL
			// keeps every frame, so nothing is lost. Its error has nowhere
			// better to go: the backstop threshold bounds the WAL meanwhile.
			_ = c.checkpoint()
		}
	}
}

func (c *checkpointer) checkpoint() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy, log, done int
	return c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done)
}

// close stops the checkpointer; SQLite checkpoints what is left when the
// last connection closes.
func (c *checkpointer) close() error {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.err = c.db.Close()
	})
	return c.err
}
