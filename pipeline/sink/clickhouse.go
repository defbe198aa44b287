package sink

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// ClickHouse 18.16 with clickhouse-go/v2, and keeps inserted_at defaulted.
const (
	tpColumns   = "event_id, user_key, user_id, anonymous_id, ts_ms, event_date, interaction, channel, source, medium, campaign, cost, session_start_ms, kafka_partition, too_late"
	convColumns = "event_id, user_key, user_id, anonymous_id, ts_ms, event_date, conversion_type, revenue_micros, currency, kafka_partition"
)

// creditColumns are the columns of attributed_conversions the sink inserts,
// one row per credited set (a conversion under one version; see
// schemas/clickhouse/004_attributed_conversions.sql); the columnar buffers
// of creditColumnsBuf.insert are listed in the same order.
const creditColumns = schemas.CompactColumns

// insertRows writes the rows of units into table, one INSERT with
// columnar appends. It returns only when ClickHouse acknowledged them; a
// failure is a *TableError. cols are the caller's column buffers, reused
// from one call to the next.
func insertRows(ctx context.Context, conn driver.Conn, db, table string, units []*flow.Unit, cols *insertColumns) error {
	switch table {
	case tableTouchpoints:
		defer retainBounded(&cols.tp, &cols.tpKept)
		return cols.tp.insert(ctx, conn, db, units)
	case tableConversions:
		defer retainBounded(&cols.conv, &cols.convKept)
		return cols.conv.insert(ctx, conn, db, units)
	case tableCredited:
		defer retainBounded(&cols.credit, &cols.creditKept)
		return cols.credit.insert(ctx, conn, db, units)
	case tableSpend:
		var spend []schemas.AdSpend
		for _, u := range units {
			spend = append(spend, u.Spend...)
		}
		return insertSpend(ctx, conn, db, spend, "topic")
	case tableIdentities:
		return insertIdentities(ctx, conn, db, units)
	case tableLinks:
		return insertLinks(ctx, conn, db, units)
	case tableMarks:
		return insertMarks(ctx, conn, db, units)
	}
	return fmt.Errorf("insert into unknown table %q", table)
}

// insertColumns are a sink writer's column buffers, one set per table (the
// tables are written at once). Once they have grown to the recent batches,
// building a batch's columns allocates nothing: see chcolumns.go. Each set
// is released after an insert when it holds far more than the recent
// batches used (see retention), so one outsized batch does not pin memory.
type insertColumns struct {
	tp     tpColumnsBuf
	conv   convColumnsBuf
	credit creditColumnsBuf

	tpKept, convKept, creditKept retention
}

type tpColumnsBuf struct {
	id, key, uid, aid, inter, ch, src, med, camp proto.ColStr
	ts, sess                                     proto.ColInt64
	date                                         proto.ColDate
	cost                                         proto.ColFloat64
	part                                         proto.ColInt32
	late                                         proto.ColUInt8
	sort                                         tpSort
}

// insert sends the units' touchpoints sorted by touchpoints' sorting key
// (tpsort.go), so that ClickHouse, which checks a block's order before
// sorting it, writes the part without sorting it: for the table and for
// touchpoints_by_day, whose key is the same behind the day.
func (c *tpColumnsBuf) insert(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	return insertTable(ctx, conn, db, tableTouchpoints, tpColumns, c.fill(units))
}

// fill builds the columns of the units' touchpoints, sorted, and returns
// them in tpColumns' order.
func (c *tpColumnsBuf) fill(units []*flow.Unit) []proto.ColInput {
	cols := []proto.ColInput{&c.id, &c.key, &c.uid, &c.aid, &c.ts, &c.date, &c.inter, &c.ch, &c.src, &c.med, &c.camp, &c.cost, &c.sess, &c.part, &c.late}
	resetColumns(cols)
	c.grow(units)
	// In arrival order first: the rows are read once, in the order they
	// lie in memory; the sort then moves values within the columns.
	for _, u := range units {
		for k := range u.TPs {
			r := &u.TPs[k]
			c.id.Append(r.TP.EventID)
			c.key.Append(r.TP.Key())
			c.uid.Append(r.TP.UserID)
			c.aid.Append(r.TP.AnonymousID)
			c.ts.Append(r.TP.TimeMs)
			c.date = append(c.date, dayOf(r.TP.TimeMs))
			c.inter.Append(r.TP.Interaction)
			c.ch.Append(r.TP.Channel)
			c.src.Append(r.TP.Source)
			c.med.Append(r.TP.Medium)
			c.camp.Append(r.TP.Campaign)
			c.cost.Append(r.TP.Cost)
			c.sess.Append(r.SessionStart)
			c.part.Append(r.Partition)
			c.late.Append(boolByte(r.TooLate))
		}
	}
	if perm := c.sort.order(&c.key, c.ts, &c.id); perm != nil {
		for _, s := range []*proto.ColStr{&c.id, &c.key, &c.uid, &c.aid, &c.inter, &c.ch, &c.src, &c.med, &c.camp} {
			c.sort.pos = permute(&s.Pos, perm, c.sort.pos)
		}
		c.sort.i64 = permute((*[]int64)(&c.ts), perm, c.sort.i64)
		c.sort.i64 = permute((*[]int64)(&c.sess), perm, c.sort.i64)
		c.sort.f64 = permute((*[]float64)(&c.cost), perm, c.sort.f64)
		c.sort.date = permute((*[]proto.Date)(&c.date), perm, c.sort.date)
		c.sort.i32 = permute((*[]int32)(&c.part), perm, c.sort.i32)
		c.sort.u8 = permute((*[]uint8)(&c.late), perm, c.sort.u8)
	}
	c.sort.trim()
	return cols
}

// grow makes room in c for the touchpoints of units at once, so that the
// appends below never grow a column by doubling: a writer's buffers start
// empty and grow to a catch-up's batches (up to --backlog-flush-rows rows)
// in every writer and again after retention released them, and growth by
// doubling allocates about twice the final size and copies it (the
// largest allocation site of a catch-up, docs/BENCHMARKS.md). The sizes
// are exact: one pass over the rows reading only string lengths, made
// only when the buffers have not yet held as many rows (once grown, room
// for the rows means room for their strings too, give or take a doubling).
func (c *tpColumnsBuf) grow(units []*flow.Unit) {
	rows := 0
	for _, u := range units {
		rows += len(u.TPs)
	}
	if cap(c.id.Pos) >= rows {
		return
	}
	var id, key, uid, aid, inter, ch, src, med, camp int
	for _, u := range units {
		for k := range u.TPs {
			tp := &u.TPs[k].TP
			id += len(tp.EventID)
			key += len(tp.Key())
			uid += len(tp.UserID)
			aid += len(tp.AnonymousID)
			inter += len(tp.Interaction)
			ch += len(tp.Channel)
			src += len(tp.Source)
			med += len(tp.Medium)
			camp += len(tp.Campaign)
		}
	}
	growStr(&c.id, rows, id)
	growStr(&c.key, rows, key)
	growStr(&c.uid, rows, uid)
	growStr(&c.aid, rows, aid)
	growStr(&c.inter, rows, inter)
	growStr(&c.ch, rows, ch)
	growStr(&c.src, rows, src)
	growStr(&c.med, rows, med)
	growStr(&c.camp, rows, camp)
	c.ts = slices.Grow(c.ts, rows)
	c.sess = slices.Grow(c.sess, rows)
	c.date = slices.Grow(c.date, rows)
	c.cost = slices.Grow(c.cost, rows)
	c.part = slices.Grow(c.part, rows)
	c.late = slices.Grow(c.late, rows)
}

// growStr makes room in c for rows more values of n bytes in all.
func growStr(c *proto.ColStr, rows, n int) {
	c.Buf = slices.Grow(c.Buf, n)
	c.Pos = slices.Grow(c.Pos, rows)
}

type convColumnsBuf struct {
	id, key, uid, aid, typ, cur proto.ColStr
	ts, rev                     proto.ColInt64
	date                        proto.ColDate
	part                        proto.ColInt32
	sort                        tpSort
}

// insert sends the units' conversions sorted by conversions' sorting key,
// (user_key, ts_ms, event_id), touchpoints' key: ClickHouse then writes
// the part without sorting it (see tpColumnsBuf.insert).
func (c *convColumnsBuf) insert(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	return insertTable(ctx, conn, db, tableConversions, convColumns, c.fill(units))
}

// fill builds the columns of the units' conversions, sorted, and returns
// them in convColumns' order.
func (c *convColumnsBuf) fill(units []*flow.Unit) []proto.ColInput {
	cols := []proto.ColInput{&c.id, &c.key, &c.uid, &c.aid, &c.ts, &c.date, &c.typ, &c.rev, &c.cur, &c.part}
	resetColumns(cols)
	c.grow(units)
	for _, u := range units {
		for k := range u.Convs {
			r := &u.Convs[k]
			c.id.Append(r.CV.EventID)
			c.key.Append(r.CV.Key())
			c.uid.Append(r.CV.UserID)
			c.aid.Append(r.CV.AnonymousID)
			c.ts.Append(r.CV.TimeMs)
			c.date = append(c.date, dayOf(r.CV.TimeMs))
			c.typ.Append(r.CV.ConversionType)
			c.rev.Append(r.CV.RevenueMicros)
			c.cur.Append(r.CV.Currency)
			c.part.Append(r.Partition)
		}
	}
	if perm := c.sort.order(&c.key, c.ts, &c.id); perm != nil {
		for _, s := range []*proto.ColStr{&c.id, &c.key, &c.uid, &c.aid, &c.typ, &c.cur} {
			c.sort.pos = permute(&s.Pos, perm, c.sort.pos)
		}
		c.sort.i64 = permute((*[]int64)(&c.ts), perm, c.sort.i64)
		c.sort.i64 = permute((*[]int64)(&c.rev), perm, c.sort.i64)
		c.sort.date = permute((*[]proto.Date)(&c.date), perm, c.sort.date)
		c.sort.i32 = permute((*[]int32)(&c.part), perm, c.sort.i32)
	}
	c.sort.trim()
	return cols
}

// grow makes room for the units' conversions at once, as
// tpColumnsBuf.grow does for touchpoints.
func (c *convColumnsBuf) grow(units []*flow.Unit) {
	rows := 0
	for _, u := range units {
		rows += len(u.Convs)
	}
	if cap(c.id.Pos) >= rows {
		return
	}
	var id, key, uid, aid, typ, cur int
	for _, u := range units {
		for k := range u.Convs {
			cv := &u.Convs[k].CV
			id += len(cv.EventID)
			key += len(cv.Key())
			uid += len(cv.UserID)
			aid += len(cv.AnonymousID)
			typ += len(cv.ConversionType)
			cur += len(cv.Currency)
		}
	}
	growStr(&c.id, rows, id)
	growStr(&c.key, rows, key)
	growStr(&c.uid, rows, uid)
	growStr(&c.aid, rows, aid)
	growStr(&c.typ, rows, typ)
	growStr(&c.cur, rows, cur)
	c.ts = slices.Grow(c.ts, rows)
	c.rev = slices.Grow(c.rev, rows)
	c.date = slices.Grow(c.date, rows)
	c.part = slices.Grow(c.part, rows)
}

type creditColumnsBuf struct {
	cid, ctyp, key, cur                          proto.ColStr
	cts, rev                                     proto.ColInt64
	date                                         proto.ColDate
	version, plen                                proto.ColUInt32
	tids, chs, srcs, meds, camps, inters, models strArr
	fits                                         strArr
	tts, micros                                  int64Arr
	fractions                                    f64Arr
	refs                                         []setRef
}

// insert writes one compact row per credited set, the rows sorted by
// attributed_conversions' sorting key (conversion_date, conversion_id), so
// that ClickHouse writes the part without sorting it (creditorder.go). A
// set's cells come from
// the engine model by model (Credits.Models order, skipped models absent),
// each model's cells in path order, one per touchpoint or the single
// unattributed cell of an empty path; the table holds them position-major
// (every model's credit for the first touchpoint, then for the second...),
// so that the view credited_conversions unfolds a touchpoint's credits
// from one slice: cell (model k, position p) goes to p*models + k.
func (c *creditColumnsBuf) insert(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	return insertTable(ctx, conn, db, tableCredited, creditColumns, c.fill(units))
}

// fill builds the columns of the units' credited sets, in the table's
// order, and returns them in creditColumns' order.
func (c *creditColumnsBuf) fill(units []*flow.Unit) []proto.ColInput {
	cols := []proto.ColInput{&c.cid, &c.ctyp, &c.key, &c.cur, &c.cts, &c.date, &c.version, &c.rev, &c.plen,
		&c.tids, &c.chs, &c.srcs, &c.meds, &c.camps, &c.inters, &c.tts, &c.models, &c.fits, &c.fractions, &c.micros}
	resetColumns(cols)
	refs := c.order(units)
	c.grow(units, refs)
	for _, r := range refs {
		cr := &units[r.unit].Credits
		set := &cr.Sets[r.set]
		if set.Retract {
			c.retraction(set)
			continue
		}
		c.credited(cr, set)
	}
	c.trim()
	return cols
}

// credited appends the row of set, a set of cr with cells.
func (c *creditColumnsBuf) credited(cr *flow.Credits, set *flow.CreditSet) {
	cells := cr.Cells[set.Cells : set.Cells+set.CellsLen]
	c.conversion(set)
	c.plen.Append(set.PathLen)
	for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
		c.tids.Data.Append(tp.ID)
		c.chs.Data.Append(tp.Channel)
		c.srcs.Data.Append(tp.Source)
		c.meds.Data.Append(tp.Medium)
		c.camps.Data.Append(tp.Campaign)
		c.inters.Data.Append(interaction(tp.Impression))
		c.tts.Data.Append(tp.TimeMs)
	}
	for _, a := range []*strArr{&c.tids, &c.chs, &c.srcs, &c.meds, &c.camps, &c.inters} {
		a.EndRow()
	}
	c.tts.EndRow()
	stride := max(int(set.PathLen), 1)
	models := len(cells) / stride
	var value int64
	for k := range models {
		cell := &cells[k*stride]
		c.models.Data.Append(cr.Models[cell.Model])
		if set.FitIDs != nil {
			c.fits.Data.Append(set.FitIDs[cell.Model])
		} else {
			c.fits.Data.Append("")
		}
	}
	for _, cell := range cells[:stride] {
		value += cell.Revenue
	}
	for p := range stride {
		for k := range models {
			cell := &cells[k*stride+p]
			c.fractions.Data.Append(cell.Fraction)
			c.micros.Data.Append(cell.Revenue)
		}
	}
	c.models.EndRow()
	c.fits.EndRow()
	c.fractions.EndRow()
	c.micros.EndRow()
	c.rev.Append(value)
}

// interaction is the interaction a credited path stores for a touchpoint.
func interaction(impression bool) string {
	if impression {
		return schemas.InteractionImpression
	}
	return schemas.InteractionClick
}

// conversion appends the columns of set's conversion and version.
func (c *creditColumnsBuf) conversion(set *flow.CreditSet) {
	c.cid.Append(set.ConversionID)
	c.ctyp.Append(set.ConversionType)
	c.key.Append(set.UserKey)
	c.cur.Append(set.Currency)
	c.cts.Append(set.TimeMs)
	c.date = append(c.date, dayOf(set.TimeMs))
	c.version.Append(set.Version)
}

// retraction appends set's retraction: the conversion under the day it
// left, every array empty, revenue 0 (flow.CreditSet.Retract).
func (c *creditColumnsBuf) retraction(set *flow.CreditSet) {
	c.conversion(set)
	c.plen.Append(0)
	for _, a := range []*strArr{&c.tids, &c.chs, &c.srcs, &c.meds, &c.camps, &c.inters, &c.models, &c.fits} {
		a.EndRow()
	}
	c.tts.EndRow()
	c.fractions.EndRow()
	c.micros.EndRow()
	c.rev.Append(0)
}

// insertTable inserts cols (filled in the order of columns) into db.table
// in one INSERT, when they hold rows.
func insertTable(ctx context.Context, conn driver.Conn, db, table, columns string, cols []proto.ColInput) error {
	if cols[0].Rows() == 0 {
		return nil
	}
	if err := sendColumns(ctx, conn, "INSERT INTO "+db+"."+table+" ("+columns+")", cols...); err != nil {
		return &TableError{Table: table, Err: err}
	}
	return nil
}

// resetColumns empties cols, keeping their buffers.
func resetColumns(cols []proto.ColInput) {
	for _, c := range cols {
		c.(interface{ Reset() }).Reset()
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

const spendColumns = "event_id, date, channel, source, medium, campaign, cost_micros, currency, origin"

// InsertSpend writes ad-spend rows (origin says where they came from:
// "topic" or "import"). Rows with an event_id already stored replace it.
func InsertSpend(ctx context.Context, conn driver.Conn, db string, rows []schemas.AdSpend, origin string) error {
	if err := schemas.ValidIdentifier(db); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return insertSpend(ctx, conn, db, rows, origin)
}

func insertSpend(ctx context.Context, conn driver.Conn, db string, rows []schemas.AdSpend, origin string) error {
	if len(rows) == 0 {
		return nil
	}
	var (
		id, ch, src, med, camp, cur, org proto.ColStr
		date                             proto.ColDate
		cost                             proto.ColInt64
	)
	for i := range rows {
		r := &rows[i]
		id.Append(r.EventID)
		date = append(date, dayOf(r.Date.UnixMilli()))
		ch.Append(r.Channel)
		src.Append(r.Source)
		med.Append(r.Medium)
		camp.Append(r.Campaign)
		cost.Append(r.CostMicros)
		cur.Append(r.Currency)
		org.Append(origin)
	}
	return insertTable(ctx, conn, db, tableSpend, spendColumns, []proto.ColInput{&id, &date, &ch, &src, &med, &camp, &cost, &cur, &org})
}

const (
	identityColumns = "event_id, anonymous_id, user_id, ts_ms, event_date, kafka_partition, too_late"
	linkColumns     = "anonymous_id, user_id, ts_ms, event_id, home, origin"
)

// insertIdentities writes the identity events of units (table
// identities; kafka_partition is the anonymous_id's home).
func insertIdentities(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	var (
		id, aid, uid proto.ColStr
		ts           proto.ColInt64
		date         proto.ColDate
		part         proto.ColInt32
		late         proto.ColUInt8
	)
	for _, u := range units {
		for k := range u.IDs {
			r := &u.IDs[k]
			id.Append(r.ID.EventID)
			aid.Append(r.ID.AnonymousID)
			uid.Append(r.ID.UserID)
			ts.Append(r.ID.TimeMs)
			date = append(date, dayOf(r.ID.TimeMs))
			part.Append(r.Partition)
			late.Append(boolByte(r.TooLate))
		}
	}
	return insertTable(ctx, conn, db, tableIdentities, identityColumns, []proto.ColInput{&id, &aid, &uid, &ts, &date, &part, &late})
}

// insertLinks writes the links of units (table links), which the next
// owner of their homes rebuilds its link tables from (history.LoadLinks).
func insertLinks(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	var (
		aid, uid, id, org proto.ColStr
		ts                proto.ColInt64
		home              proto.ColInt32
	)
	for _, u := range units {
		for k := range u.Links {
			r := &u.Links[k]
			aid.Append(r.Link.AnonymousID)
			uid.Append(r.Link.UserID)
			ts.Append(r.Link.TimeMs)
			id.Append(r.Link.EventID)
			home.Append(r.Home)
			org.Append(r.Origin)
		}
	}
	return insertTable(ctx, conn, db, tableLinks, linkColumns, []proto.ColInput{&aid, &uid, &ts, &id, &home, &org})
}
