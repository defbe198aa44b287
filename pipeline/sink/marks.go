package sink

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/rollup"
)

// tableMarks records the days the sink wrote into (schemas/clickhouse/
// 008_rollups.sql): after a batch's rows are acknowledged, one row per
// (kind, day) of its credited conversions ('credits', by conversion date)
// and of its touchpoints ('touchpoints', by event date). A rolled-up day is
// valid only while no mark is newer than its run's start, so a write into
// a rolled-up day (a re-attribution, an event beyond the horizon) makes
// the aggregate views read that day live until the next rollup. The marks
// come after the rows, and the batch's offsets only after the marks: a
// crash in between re-writes the rows and marks them on the next run.
const tableMarks = "rollup_marks"

type markKey struct {
	kind string
	day  proto.Date
}

// markDays returns the (kind, day) pairs of the rows of units, sorted.
func markDays(units []*flow.Unit) []markKey {
	seen := map[markKey]struct{}{}
	for _, u := range units {
		for k := range u.TPs {
			seen[markKey{rollup.KindTouchpoints, dayOf(u.TPs[k].TP.TimeMs)}] = struct{}{}
		}
		cr := &u.Credits
		for si := range cr.Sets {
			// A retraction has no cells but changes its day: the
			// conversion's earlier version counted there.
			if set := &cr.Sets[si]; set.CellsLen > 0 || set.Retract {
				seen[markKey{rollup.KindCredits, dayOf(set.TimeMs)}] = struct{}{}
			}
		}
	}
	keys := make([]markKey, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b markKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.day, b.day))
	})
	return keys
}

// insertMarks writes the marks of units (marked_at is the server's now()).
func insertMarks(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	var kind proto.ColStr
	var date proto.ColDate
	for _, k := range markDays(units) {
		kind.Append(k.kind)
		date = append(date, k.day)
	}
	return insertTable(ctx, conn, db, tableMarks, "kind, date", []proto.ColInput{&kind, &date})
}

// mark writes the marks of b, retrying like the rows: it returns false only
// when ctx ends or the marks table is unusable (the run is then stopped),
// and b's acks must not fire.
func (s *Sink) mark(ctx context.Context, b *batch, cols *insertColumns) bool {
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := s.insert(ctx, tableMarks, b.units, cols)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.stats.InsertErrors.Add(1)
		if f := classifyWrite(err); f.class == Unusable {
			ue := &UnusableError{Database: s.db, Table: tableMarks, Err: f.err}
			s.log.Error("sink: a table cannot take any row; stopping the run", "table", s.db+"."+tableMarks, "err", f.err)
			s.stop(ue)
			return false
		}
		s.log.Warn("sink: writing the rollup marks failed; retrying", "attempt", attempt+1, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
