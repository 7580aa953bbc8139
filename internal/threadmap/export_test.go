package threadmap

import (
	"context"
	"time"

	"github.com/deepagents-slack/slackbot"
)

// RecordGroup writes recs as one group, the way Records of callers arriving
// together are written, and returns each caller's answer.
func RecordGroup(s Store, recs []slackbot.Record) ([]slackbot.Recorded, []error) {
	var g *groupCommit
	switch s := s.(type) {
	case *SQLiteStore:
		g = s.group
	case *PostgresStore:
		g = s.group
	default:
		panic("RecordGroup: unknown store")
	}
	group := make([]*pendingRecord, len(recs))
	for i, r := range recs {
		group[i] = &pendingRecord{ctx: context.Background(), rec: prepareRecord(r, time.Now()), done: make(chan struct{})}
	}
	g.commit(group)
	res, errs := make([]slackbot.Recorded, len(recs)), make([]error, len(recs))
	for i, p := range group {
		<-p.done
		res[i], errs[i] = p.res, p.err
	}
	return res, errs
}
