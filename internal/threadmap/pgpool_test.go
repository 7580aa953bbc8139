package threadmap

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func testPool(t *testing.T, size int) *connPool {
	t.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL store tests")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	p := newConnPool(cfg, size)
	t.Cleanup(p.close)
	return p
}

func TestConnPoolDropsConnectionLeftInTransaction(t *testing.T) {
	p := testPool(t, 1)
	var first *pgx.Conn
	err := p.withConn(t.Context(), func(c *pgx.Conn) error {
		first = c
		_, err := c.Exec(t.Context(), "BEGIN")
		return err
	})
	if err != nil {
		t.Fatalf("withConn: %v", err)
	}
	if !first.IsClosed() {
		t.Fatalf("connection left inside a transaction was kept")
	}
	err = p.withConn(t.Context(), func(c *pgx.Conn) error {
		if c == first || c.PgConn().TxStatus() != 'I' {
			t.Errorf("got the dropped connection back, or one inside a transaction")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("withConn after drop: %v", err)
	}
}

func TestConnPoolReusesIdleConnection(t *testing.T) {
	p := testPool(t, 1)
	var conns []*pgx.Conn
	for range 2 {
		if err := p.withConn(t.Context(), func(c *pgx.Conn) error { conns = append(conns, c); return nil }); err != nil {
			t.Fatalf("withConn: %v", err)
		}
	}
	if conns[0] != conns[1] {
		t.Errorf("idle connection was not reused")
	}
}

func TestConnPoolWaitHonoursContext(t *testing.T) {
	p := testPool(t, 1)
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- p.withConn(context.Background(), func(*pgx.Conn) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.withConn(ctx, func(*pgx.Conn) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("withConn on a full pool with a cancelled context = %v; want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holder: %v", err)
	}
	p.close()
	if err := p.withConn(t.Context(), func(*pgx.Conn) error { return nil }); !errors.Is(err, errPoolClosed) {
		t.Errorf("withConn after close = %v; want errPoolClosed", err)
	}
}
