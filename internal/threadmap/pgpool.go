package threadmap

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// connPool is a small bounded pool of PostgreSQL connections.
//
// pgxpool would be the natural choice, but it needs github.com/jackc/puddle/v2,
// which is not in this module's go.sum. The store only touches the pool
// through withConn, so switching to pgxpool is a change to this file alone.
type connPool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{} // one token per connection in use

	mu     sync.Mutex
	idle   []idleConn
	closed bool
}

type idleConn struct {
	conn  *pgx.Conn
	since time.Time
}

// checkIdleAfter is how long a connection may sit idle before it is pinged
// on reuse: servers and proxies drop quiet connections.
const checkIdleAfter = 30 * time.Second

var errPoolClosed = errors.New("threadmap: postgres store closed")

func newConnPool(cfg *pgx.ConnConfig, size int) *connPool {
	return &connPool{cfg: cfg, slots: make(chan struct{}, size)}
}

// withConn runs fn with a connection of its own. A connection that fn left
// broken or inside a transaction is closed rather than reused.
func (p *connPool) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	conn, err := p.get(ctx)
	if err != nil {
		return err
	}
	err = fn(conn)
	p.put(conn)
	return err
}

func (p *connPool) get(ctx context.Context) (*pgx.Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return pgx.ConnectConfig(ctx, p.cfg)
		}
		ic := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(ic.since) < checkIdleAfter || ic.conn.Ping(ctx) == nil {
			return ic.conn, nil
		}
		closeConn(ic.conn)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

func (p *connPool) put(conn *pgx.Conn) {
	reusable := !conn.IsClosed() && !conn.PgConn().IsBusy() && conn.PgConn().TxStatus() == 'I'
	p.mu.Lock()
	if reusable && !p.closed {
		p.idle = append(p.idle, idleConn{conn: conn, since: time.Now()})
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	closeConn(conn)
}

// close closes the idle connections; those in use close when returned.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ic := range idle {
		closeConn(ic.conn)
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
