package sink

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
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
}

func (c *tpColumnsBuf) insert(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	cols := []proto.ColInput{&c.id, &c.key, &c.uid, &c.aid, &c.ts, &c.date, &c.inter, &c.ch, &c.src, &c.med, &c.camp, &c.cost, &c.sess, &c.part, &c.late}
	resetColumns(cols)
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
	return insertTable(ctx, conn, db, tableTouchpoints, tpColumns, cols)
}

type convColumnsBuf struct {
	id, key, uid, aid, typ, cur proto.ColStr
	ts, rev                     proto.ColInt64
	date                        proto.ColDate
	part                        proto.ColInt32
}

func (c *convColumnsBuf) insert(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	cols := []proto.ColInput{&c.id, &c.key, &c.uid, &c.aid, &c.ts, &c.date, &c.typ, &c.rev, &c.cur, &c.part}
	resetColumns(cols)
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
	return insertTable(ctx, conn, db, tableConversions, convColumns, cols)
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
}

// insert writes one compact row per credited set. A set's cells come from
// the engine model by model (Credits.Models order, skipped models absent),
// each model's cells in path order, one per touchpoint or the single
// unattributed cell of an empty path; the table holds them position-major
// (every model's credit for the first touchpoint, then for the second...),
// so that the view credited_conversions unfolds a touchpoint's credits
// from one slice: cell (model k, position p) goes to p*models + k.
func (c *creditColumnsBuf) insert(ctx context.Context, conn driver.Conn, db string, units []*flow.Unit) error {
	cols := []proto.ColInput{&c.cid, &c.ctyp, &c.key, &c.cur, &c.cts, &c.date, &c.version, &c.rev, &c.plen,
		&c.tids, &c.chs, &c.srcs, &c.meds, &c.camps, &c.inters, &c.tts, &c.models, &c.fits, &c.fractions, &c.micros}
	resetColumns(cols)
	for _, u := range units {
		cr := &u.Credits
		for si := range cr.Sets {
			set := &cr.Sets[si]
			cells := cr.Cells[set.Cells : set.Cells+set.CellsLen]
			if set.Retract {
				c.retraction(set)
				continue
			}
			if len(cells) == 0 {
				// Every model was skipped (data-driven ones without a
				// fit): nothing credited, nothing to store, as the
				// row-per-credit layout stored no row either.
				continue
			}
			c.conversion(set)
			c.plen.Append(set.PathLen)
			for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
				c.tids.Data.Append(tp.ID)
				c.chs.Data.Append(tp.Channel)
				c.srcs.Data.Append(tp.Source)
				c.meds.Data.Append(tp.Medium)
				c.camps.Data.Append(tp.Campaign)
				if tp.Impression {
					c.inters.Data.Append(schemas.InteractionImpression)
				} else {
					c.inters.Data.Append(schemas.InteractionClick)
				}
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
	}
	return insertTable(ctx, conn, db, tableCredited, creditColumns, cols)
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
// owner of their homes rebuilds its link tables from (LoadLinks).
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

// LoadLinks returns every link stored for the given homes (the
// anonymous_ids' repartition partitions): what the shards of a
// generation rebuild their link tables from. A link stored more than once
// (a retried write) is returned once.
func LoadLinks(ctx context.Context, conn driver.Conn, db string, homes []int32) ([]schemas.Link, error) {
	if len(homes) == 0 {
		return nil, nil
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT anonymous_id, user_id, ts_ms, event_id FROM "+db+"."+tableLinks+" WHERE home IN ?", partitionSet(homes))
	if err != nil {
		return nil, fmt.Errorf("load links: %w", err)
	}
	defer rows.Close()
	var out []schemas.Link
	for rows.Next() {
		var l schemas.Link
		if err := rows.Scan(&l.AnonymousID, &l.UserID, &l.TimeMs, &l.EventID); err != nil {
			return nil, fmt.Errorf("load links: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load links: %w", err)
	}
	return out, nil
}

// LoadHistory reads the stored touchpoints of keys with ts_ms >= tpFromMs,
// and their stored conversions with ts_ms >= convFromMs. With stitched
// (identity stitching), it also reads those of the devices linked to the
// keys (History.Devices: the anonymous_ids whose earliest link in table
// links is to a key; their events are stored under the anonymous_id) and
// the highest version credited of each conversion. The keys travel as an
// external table, never inside the SQL text.
func LoadHistory(ctx context.Context, conn driver.Conn, db string, keys []string, tpFromMs, convFromMs int64, stitched bool) (flow.History, error) {
	h := flow.History{Touchpoints: map[string][]attribution.Touchpoint{}, Conversions: map[string][]schemas.Conversion{}}
	if len(keys) == 0 {
		return h, nil
	}
	var devices map[string][]string
	if stitched {
		var err error
		if devices, h.Linked, err = loadDevices(ctx, conn, db, keys); err != nil {
			return h, err
		}
	}
	h.Devices = devices
	all := keys
	if len(devices) > 0 {
		all = slices.Clone(keys)
		for _, ds := range devices {
			all = append(all, ds...)
		}
	}
	kt, err := stringTable("history_keys", "user_key", all)
	if err != nil {
		return h, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT user_key, event_id, ts_ms, interaction, channel, source, medium, campaign FROM "+db+".touchpoints"+
			" WHERE user_key IN (SELECT user_key FROM history_keys) AND ts_ms >= ? AND too_late = 0", tpFromMs)
	if err != nil {
		return h, fmt.Errorf("load touchpoints: %w", err)
	}
	for rows.Next() {
		var key, inter string
		var tp attribution.Touchpoint
		if err := rows.Scan(&key, &tp.ID, &tp.TimeMs, &inter, &tp.Channel, &tp.Source, &tp.Medium, &tp.Campaign); err != nil {
			rows.Close()
			return h, fmt.Errorf("load touchpoints: %w", err)
		}
		tp.Impression = inter == schemas.InteractionImpression
		h.Touchpoints[key] = append(h.Touchpoints[key], tp)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("load touchpoints: %w", err)
	}
	rows.Close()

	if kt, err = stringTable("history_keys", "user_key", all); err != nil {
		return h, err
	}
	rows, err = conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT user_key, event_id, user_id, anonymous_id, ts_ms, conversion_type, revenue_micros, currency FROM "+db+".conversions"+
			" WHERE user_key IN (SELECT user_key FROM history_keys) AND ts_ms >= ?", convFromMs)
	if err != nil {
		return h, fmt.Errorf("load conversions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var key string
		var cv schemas.Conversion
		if err := rows.Scan(&key, &cv.EventID, &cv.UserID, &cv.AnonymousID, &cv.TimeMs, &cv.ConversionType, &cv.RevenueMicros, &cv.Currency); err != nil {
			return h, fmt.Errorf("load conversions: %w", err)
		}
		h.Conversions[key] = append(h.Conversions[key], cv)
		ids = append(ids, cv.EventID)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("load conversions: %w", err)
	}
	rows.Close()
	versions, days, err := loadCredited(ctx, conn, db, ids)
	if err != nil {
		return h, err
	}
	h.Days = days
	if stitched {
		// Without stitching a conversion's version counts its path's
		// events, so that a recomputation writes the same row; with it a
		// move can shrink a path, and versions go above the last written.
		h.Versions = versions
	}
	return h, nil
}

// stringTable is an external table of one String column holding vals.
func stringTable(name, col string, vals []string) (*ext.Table, error) {
	t, err := ext.NewTable(name, ext.Column(col, "String"))
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if err := t.Append(v); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// loadDevices returns, per key, the anonymous_ids whose deciding link (the
// earliest, stitch.Table's rule) is to that key, and for each key that is
// itself a linked anonymous_id, its user: every stored link of the keys
// and of the anonymous_ids ever linked to one of them is read, so that an
// earlier link to another user is seen. On a cluster links and
// links_by_user are Distributed tables sharded by different keys (a
// device, a user), so the user's devices are found once, on the node
// queried, and sent to the shards of links (GLOBAL IN: 18.16 refuses a
// Distributed table in a plain IN inside a distributed query); on one
// server GLOBAL IN is a plain IN.
func loadDevices(ctx context.Context, conn driver.Conn, db string, keys []string) (devices map[string][]string, linked map[string]string, err error) {
	kt, err := stringTable("history_keys", "user_key", keys)
	if err != nil {
		return nil, nil, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT anonymous_id, user_id, ts_ms, event_id FROM "+db+".links"+
			" WHERE anonymous_id IN (SELECT user_key FROM history_keys)"+
			" OR anonymous_id GLOBAL IN (SELECT anonymous_id FROM "+db+".links_by_user WHERE user_id IN (SELECT user_key FROM history_keys))")
	if err != nil {
		return nil, nil, fmt.Errorf("load links: %w", err)
	}
	defer rows.Close()
	var tab *stitch.Table
	for rows.Next() {
		var l schemas.Link
		if err := rows.Scan(&l.AnonymousID, &l.UserID, &l.TimeMs, &l.EventID); err != nil {
			return nil, nil, fmt.Errorf("load links: %w", err)
		}
		if tab == nil {
			tab = stitch.NewTable()
		}
		tab.Add(l)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load links: %w", err)
	}
	if tab == nil {
		return nil, nil, nil
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	for l := range tab.Links() {
		if want[l.UserID] {
			if devices == nil {
				devices = map[string][]string{}
			}
			devices[l.UserID] = append(devices[l.UserID], l.AnonymousID)
		}
		if want[l.AnonymousID] {
			if linked == nil {
				linked = map[string]string{}
			}
			linked[l.AnonymousID] = l.UserID
		}
	}
	for _, ds := range devices {
		slices.Sort(ds)
	}
	return devices, linked, nil
}

// loadCredited returns, for each conversion of ids that was credited, the
// highest version it was credited with and the days under which its rows
// still show credits (a day's latest row is not a retraction), from
// conversion_versions (sorted by conversion_id: a lookup, not a scan;
// attributed_conversions is sorted by date first).
func loadCredited(ctx context.Context, conn driver.Conn, db string, ids []string) (map[string]uint32, map[string][]int32, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	kt, err := stringTable("history_ids", "id", ids)
	if err != nil {
		return nil, nil, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT conversion_id, toInt32(conversion_date), maxIf(version, retracted = 0), argMax(retracted, version) = 0"+
			" FROM "+db+".conversion_versions WHERE conversion_id IN (SELECT id FROM history_ids) GROUP BY conversion_id, conversion_date")
	if err != nil {
		return nil, nil, fmt.Errorf("load versions: %w", err)
	}
	defer rows.Close()
	versions := make(map[string]uint32, len(ids))
	days := make(map[string][]int32, len(ids))
	for rows.Next() {
		var id string
		var day int32
		var v uint32
		var live uint8
		if err := rows.Scan(&id, &day, &v, &live); err != nil {
			return nil, nil, fmt.Errorf("load versions: %w", err)
		}
		versions[id] = max(versions[id], v)
		if live == 1 {
			days[id] = append(days[id], day)
		}
	}
	return versions, days, rows.Err()
}

// loadFrontiers returns, per partition, the latest event time of the
// conversions already attributed: a touchpoint at or before it may belong to
// an attributed conversion and must be checked for re-attribution. Rows
// after untilMs (now plus the future skew) are ignored: only a release
// before the future check stored such rows, and one of them must not
// poison every later run.
func LoadFrontiers(ctx context.Context, conn driver.Conn, db string, untilMs int64) (map[int32]int64, error) {
	rows, err := conn.Query(ctx, "SELECT kafka_partition, max(ts_ms) FROM "+db+".conversions WHERE ts_ms <= ? GROUP BY kafka_partition", untilMs)
	if err != nil {
		return nil, fmt.Errorf("load frontiers: %w", err)
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var p int32
		var ms int64
		if err := rows.Scan(&p, &ms); err != nil {
			return nil, fmt.Errorf("load frontiers: %w", err)
		}
		out[p] = ms
	}
	return out, rows.Err()
}

// partitionSet binds partition numbers as a set, "(0, 1, 2)": a Go slice
// would bind as an array, which ClickHouse 18.16 rejects on the right of IN.
func partitionSet(partitions []int32) clickhouse.GroupSet {
	set := clickhouse.GroupSet{Value: make([]any, len(partitions))}
	for i, p := range partitions {
		set.Value[i] = p
	}
	return set
}

// loadStoredKeys returns the keys of the users that have touchpoints and
// those that have conversions stored for the given partitions since fromMs:
// the only users whose state may need a history load in a new generation.
func LoadStoredKeys(ctx context.Context, conn driver.Conn, db string, partitions []int32, fromMs int64) (tpKeys, convKeys []string, err error) {
	if len(partitions) == 0 {
		return nil, nil, nil
	}
	for _, table := range []string{"touchpoints", "conversions"} {
		var keys []string
		rows, err := conn.Query(ctx, "SELECT DISTINCT user_key FROM "+db+"."+table+" WHERE kafka_partition IN ? AND ts_ms >= ?", partitionSet(partitions), fromMs)
		if err != nil {
			return nil, nil, fmt.Errorf("load stored users: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("load stored users: %w", err)
			}
			keys = append(keys, k)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("load stored users: %w", err)
		}
		if table == "touchpoints" {
			tpKeys = keys
		} else {
			convKeys = keys
		}
	}
	return tpKeys, convKeys, nil
}

// latestTouchpoints returns, per partition, the latest stored touchpoint
// time up to untilMs: where each partition's watermark stood when its last
// owner stopped. Rows after untilMs (now plus the future skew; only a
// release before the future check stored them) are ignored, as the live
// check would have dead-lettered them.
func LatestTouchpoints(ctx context.Context, conn driver.Conn, db string, partitions []int32, untilMs int64) (map[int32]int64, error) {
	out := map[int32]int64{}
	if len(partitions) == 0 {
		return out, nil
	}
	rows, err := conn.Query(ctx, "SELECT kafka_partition, max(ts_ms) FROM "+db+".touchpoints WHERE kafka_partition IN ? AND ts_ms <= ? GROUP BY kafka_partition", partitionSet(partitions), untilMs)
	if err != nil {
		return nil, fmt.Errorf("latest touchpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p int32
		var ms int64
		if err := rows.Scan(&p, &ms); err != nil {
			return nil, fmt.Errorf("latest touchpoints: %w", err)
		}
		out[p] = ms
	}
	return out, rows.Err()
}

// LoadLinkedUsers returns the users some device was ever linked to: their
// history may be stored under their devices' anonymous_ids only.
func LoadLinkedUsers(ctx context.Context, conn driver.Conn, db string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT user_id FROM "+db+".links")
	if err != nil {
		return nil, fmt.Errorf("load linked users: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("load linked users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
