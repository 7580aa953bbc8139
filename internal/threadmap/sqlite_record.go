package threadmap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/deepagents-slack/slackbot"
)

// A Record group is written with one multi-row INSERT per table and chunk
// rather than one INSERT per row: on the single SQLite writer every
// statement's overhead is paid while every caller of the group waits.
// Chunks have power-of-two sizes up to maxRowsPerInsert, so few statements
// are ever prepared.
const maxRowsPerInsert = 64

// sqliteTable is one table a Record writes to.
type sqliteTable struct {
	insert string // INSERT … VALUES, without the rows
	row    string // "(?, …)" of one row
	tail   string // the conflict and RETURNING clauses
}

var (
	sqliteConversations = sqliteTable{
		insert: `INSERT INTO conversations (team_id, channel_id, root_ts, thread_id, agent_id, test_run,
			skip_memory_write_protection, started_by, created_at, mentions_only) VALUES `,
		row:  `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tail: ` ON CONFLICT (team_id, channel_id, root_ts) DO NOTHING`,
	}
	// RETURNING names only the rows inserted, not those DO NOTHING skipped
	// (sqlite.org/lang_returning.html).
	sqliteJobs = sqliteTable{
		insert: `INSERT INTO jobs (id, team_id, channel_id, root_ts, thread_id, kind, payload, state, run_id,
			reply_ts, last_event_id, delivered, error, created_at, updated_at) VALUES `,
		row:  `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tail: ` ON CONFLICT (id) DO NOTHING RETURNING id`,
	}
	sqliteDeliveries = sqliteTable{
		insert: `INSERT INTO deliveries (id, claimed_at) VALUES `,
		row:    `(?, ?)`,
		tail:   ` ON CONFLICT (id) DO NOTHING RETURNING id`,
	}
)

// groupStatements are the prepared multi-row INSERTs, by table and rows.
// They are all prepared at Open: the write pool's one connection is busy
// with the group's transaction while the group is written.
type groupStatements map[groupStmtKey]*sql.Stmt

type groupStmtKey struct {
	table *sqliteTable
	rows  int
}

func prepareGroupStatements(ctx context.Context, db *sql.DB) (groupStatements, error) {
	g := groupStatements{}
	for _, t := range []*sqliteTable{&sqliteConversations, &sqliteJobs, &sqliteDeliveries} {
		for rows := 1; rows <= maxRowsPerInsert; rows *= 2 {
			var b strings.Builder
			b.WriteString(t.insert)
			for i := range rows {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(t.row)
			}
			b.WriteString(t.tail)
			st, err := db.PrepareContext(ctx, b.String())
			if err != nil {
				return g, err
			}
			g[groupStmtKey{t, rows}] = st
		}
	}
	return g, nil
}

func (g groupStatements) close() error {
	var err error
	for _, st := range g {
		err = errors.Join(err, st.Close())
	}
	return err
}

// insertRows inserts one row per item in chunks, in order. args gives an
// item's row; inserted, if not nil, hears each id that RETURNING names.
func (s *SQLiteStore) insertRows(ctx context.Context, tx *sql.Tx, t *sqliteTable, items []*pendingRecord,
	args func(p *pendingRecord) []any, inserted func(chunk []*pendingRecord, ids map[string]int)) error {
	for len(items) > 0 {
		n := maxRowsPerInsert
		for n > len(items) {
			n /= 2
		}
		chunk := items[:n]
		items = items[n:]
		st := s.groupStmts[groupStmtKey{t, n}]
		var all []any
		for _, p := range chunk {
			all = append(all, args(p)...)
		}
		if inserted == nil {
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, all...); err != nil {
				return err
			}
			continue
		}
		rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, all...)
		if err != nil {
			return err
		}
		ids := map[string]int{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids[id]++
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		inserted(chunk, ids)
	}
	return nil
}

// insertRecords writes a group's conversations, jobs and deliveries. Rows
// go in group order, so a Record repeating an earlier one of the group
// finds it there, and jobs get their seq in that order.
func (s *SQLiteStore) insertRecords(ctx context.Context, tx *sql.Tx, group []*pendingRecord) error {
	var convs, jobs, deliveries []*pendingRecord
	for _, p := range group {
		p.res = slackbot.Recorded{}
		if p.rec.Conversation != nil {
			convs = append(convs, p)
		}
		if p.rec.Job != nil {
			jobs = append(jobs, p)
		}
		if p.rec.DeliveryID != "" {
			deliveries = append(deliveries, p)
		}
	}
	err := s.insertRows(ctx, tx, &sqliteConversations, convs, func(p *pendingRecord) []any {
		c := p.rec.Conversation
		return []any{c.Key.TeamID, c.Key.ChannelID, c.Key.RootTS, c.ThreadID, c.AgentID,
			c.Options.TestRun, c.Options.SkipMemoryWriteProtection, c.StartedBy, c.CreatedAt.UnixMicro(), c.MentionsOnly}
	}, nil)
	if err != nil {
		return fmt.Errorf("bind conversation: %w", err)
	}
	// Of Records repeating an id within a chunk only the first can have
	// inserted it: the others met it as a conflict.
	err = s.insertRows(ctx, tx, &sqliteJobs, jobs, func(p *pendingRecord) []any {
		j := p.rec.Job
		return []any{j.ID, j.Key.TeamID, j.Key.ChannelID, j.Key.RootTS, j.ThreadID, j.Kind, j.Payload,
			j.State, j.RunID, j.ReplyTS, j.LastEventID, j.Delivered, j.Error, j.CreatedAt.UnixMicro(), j.UpdatedAt.UnixMicro()}
	}, func(chunk []*pendingRecord, ids map[string]int) {
		for _, p := range chunk {
			if ids[p.rec.Job.ID] > 0 {
				ids[p.rec.Job.ID]--
				p.res.JobAdded = true
			}
		}
	})
	if err != nil {
		return fmt.Errorf("add job: %w", err)
	}
	now := s.clock().UnixMicro()
	err = s.insertRows(ctx, tx, &sqliteDeliveries, deliveries, func(p *pendingRecord) []any {
		return []any{p.rec.DeliveryID, now}
	}, func(chunk []*pendingRecord, ids map[string]int) {
		for _, p := range chunk {
			if ids[p.rec.DeliveryID] > 0 {
				ids[p.rec.DeliveryID]--
				p.res.DeliveryClaimed = true
			}
		}
	})
	if err != nil {
		return fmt.Errorf("claim delivery: %w", err)
	}
	return nil
}
