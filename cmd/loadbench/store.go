package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the bot's SQLite driver, to count what it recorded
)

// freshPostgresSchema creates an empty schema on the server named by dsn and
// returns a DSN whose search_path points at it, and a func that drops it.
func freshPostgresSchema(ctx context.Context, dsn string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("connect to -database: %w", err)
	}
	defer conn.Close(context.Background())
	schema := "loadbench_" + strings.ToLower(rand.Text()[:12])
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE")
			conn.Close(ctx)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("-database is not a URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// countRecorded counts the jobs the bot recorded for one path's requests
// (they all use channel "C"+nonce).
func countRecorded(ctx context.Context, dsn, nonce string) (int, error) {
	var n int
	if strings.HasPrefix(dsn, "postgres") {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return 0, err
		}
		defer conn.Close(ctx)
		err = conn.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE channel_id = $1`, "C"+nonce).Scan(&n)
		return n, err
	}
	db, err := sql.Open("sqlite", dsn+"?_query_only=1")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE channel_id = ?`, "C"+nonce).Scan(&n)
	return n, err
}
