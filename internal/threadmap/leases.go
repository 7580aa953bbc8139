package threadmap

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deepagents-slack/slackbot"
)

// LeaseRenewer is implemented by every store in this package. A replica
// following thousands of runs renews all the leases it holds in one
// statement per renewal period, instead of one write per lease: per-lease
// renewals of 10,000 runs would keep SQLite's single writer busy.
type LeaseRenewer interface {
	// RenewLeases extends each of held to ttl from now, on the same terms
	// as RenewLease (a lease is its owner's as long as no one else took
	// it), in one statement (SQLite: one per thousand leases). It returns
	// the leases it did not renew: taken over, released, ended, or of a job
	// that does not exist. After an error the caller counts none renewed.
	RenewLeases(ctx context.Context, held []slackbot.Lease, ttl time.Duration) (lost []slackbot.Lease, err error)
}

var (
	_ LeaseRenewer = (*SQLiteStore)(nil)
	_ LeaseRenewer = (*PostgresStore)(nil)
)

// sqliteRenewChunk is how many leases one SQLite statement renews. The
// single writer serves acks too: 10,000 leases in one UPDATE held it for
// about 0.1 s, a pause every ack arriving meanwhile would wait out; in
// chunks, an ack waits for one chunk at most.
const sqliteRenewChunk = 1000

// RenewLeases renews many leases, one UPDATE per sqliteRenewChunk; see
// LeaseRenewer. After an error the chunks before it stay renewed, which
// only makes those leases last longer than their holder counts on.
func (s *SQLiteStore) RenewLeases(ctx context.Context, held []slackbot.Lease, ttl time.Duration) ([]slackbot.Lease, error) {
	var lost []slackbot.Lease
	for chunk := range slices.Chunk(held, sqliteRenewChunk) {
		l, err := s.renewLeases(ctx, chunk, ttl)
		if err != nil {
			return nil, err
		}
		lost = append(lost, l...)
	}
	return lost, nil
}

// renewLeases renews held in one UPDATE. The leases go in as one JSON
// parameter, so their number is not bounded by SQLite's limit on statement
// parameters.
func (s *SQLiteStore) renewLeases(ctx context.Context, held []slackbot.Lease, ttl time.Duration) ([]slackbot.Lease, error) {
	pairs := make([][2]string, len(held))
	for i, l := range held {
		pairs[i] = [2]string{l.JobID, l.Owner}
	}
	arg, err := json.Marshal(pairs)
	if err != nil {
		return nil, fmt.Errorf("threadmap: renew leases: %w", err)
	}
	now := s.clock()
	rows, err := s.write.QueryContext(ctx, `UPDATE jobs SET lease_until = ?, updated_at = ?
		FROM (SELECT value ->> 0 AS id, value ->> 1 AS owner FROM json_each(?)) AS held
		WHERE jobs.id = held.id AND jobs.lease_owner = held.owner AND jobs.lease_owner <> ''
		RETURNING jobs.id, jobs.lease_owner`,
		now.Add(ttl).UnixMicro(), now.UnixMicro(), string(arg))
	if err != nil {
		return nil, fmt.Errorf("threadmap: renew leases: %w", err)
	}
	defer rows.Close()
	var renewed []slackbot.Lease
	for rows.Next() {
		var l slackbot.Lease
		if err := rows.Scan(&l.JobID, &l.Owner); err != nil {
			return nil, fmt.Errorf("threadmap: renew leases: %w", err)
		}
		renewed = append(renewed, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("threadmap: renew leases: %w", err)
	}
	return notRenewed(held, renewed), nil
}

// RenewLeases renews many leases in one UPDATE, by the database's clock;
// see LeaseRenewer.
func (s *PostgresStore) RenewLeases(ctx context.Context, held []slackbot.Lease, ttl time.Duration) ([]slackbot.Lease, error) {
	if len(held) == 0 {
		return nil, nil
	}
	ids, owners := make([]string, len(held)), make([]string, len(held))
	for i, l := range held {
		ids[i], owners[i] = l.JobID, l.Owner
	}
	rows, err := s.pool.Query(ctx, `UPDATE jobs SET lease_until = COALESCE($1::timestamptz, now()) + $2::bigint * interval '1 microsecond',
			updated_at = $3
		FROM unnest($4::text[], $5::text[]) AS held(id, owner)
		WHERE jobs.id = held.id AND jobs.lease_owner = held.owner AND jobs.lease_owner <> ''
		RETURNING jobs.id, jobs.lease_owner`,
		s.leaseNow(), micros(ttl), s.clock(), ids, owners)
	if err != nil {
		return nil, fmt.Errorf("threadmap: renew leases: %w", err)
	}
	renewed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (slackbot.Lease, error) {
		var l slackbot.Lease
		err := row.Scan(&l.JobID, &l.Owner)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("threadmap: renew leases: %w", err)
	}
	return notRenewed(held, renewed), nil
}

// notRenewed is held minus renewed. A job may appear twice in held (a
// lease given up and the job leased again by the same replica): a lease
// is its job and its owner.
func notRenewed(held, renewed []slackbot.Lease) []slackbot.Lease {
	if len(renewed) == len(held) {
		return nil
	}
	ok := make(map[slackbot.Lease]bool, len(renewed))
	for _, l := range renewed {
		ok[l] = true
	}
	var lost []slackbot.Lease
	for _, l := range held {
		if !ok[l] {
			lost = append(lost, l)
		}
	}
	return lost
}
