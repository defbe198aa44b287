package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// OpenClickHouse connects over the native protocol and checks that the
// server answers. Tables are always named with their database, so the
// connection itself uses the server's default database.
func OpenClickHouse(ctx context.Context, cfg ClickHouseConfig) (driver.Conn, error) {
	tlsCfg, err := cfg.TLS.Config("clickhouse")
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		TLS:             tlsCfg,
		Addr:            []string{cfg.Addr},
		Auth:            clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     5 * time.Minute,
		MaxOpenConns:    16,
		MaxIdleConns:    8,
		ConnMaxLifetime: time.Hour,
		Compression:     cfg.compression(),
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: unreachable: %w", cfg.Addr, err)
	}
	return conn, nil
}

func (cfg ClickHouseConfig) compression() *clickhouse.Compression {
	if cfg.Compression == "none" {
		return nil
	}
	return &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
}

// Migrate creates, idempotently, the database, tables and views of
// schemas/clickhouse/*.sql.
func Migrate(ctx context.Context, conn driver.Conn, database string) error {
	stmts, err := schemas.DDL(database)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s.SQL); err != nil {
			return fmt.Errorf("migrate %s: %w", s.File, err)
		}
	}
	for _, c := range schemas.AddedColumns {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?", database, c.Table, c.Column).Scan(&n); err != nil {
			return fmt.Errorf("migrate: check %s.%s: %w", c.Table, c.Column, err)
		}
		if n == 0 {
			if err := conn.Exec(ctx, "ALTER TABLE "+database+"."+c.Table+" ADD COLUMN "+c.Column+" "+c.Type); err != nil {
				return fmt.Errorf("migrate: add %s.%s: %w", c.Table, c.Column, err)
			}
		}
	}
	return nil
}

// tpRow is a raw touchpoint as stored.
type tpRow struct {
	tp           schemas.Touchpoint
	sessionStart int64
	partition    int32
	tooLate      bool // beyond the re-attribution horizon: stored, never in a path
}

// convRow is a raw conversion as stored.
type convRow struct {
	cv        schemas.Conversion
	partition int32
}

// creditRow is a credited row with the version of its set.
type creditRow struct {
	schemas.CreditedRow
	version uint32
}

// Column lists of the inserts. Naming the columns is required by
// ClickHouse 18.16 with clickhouse-go/v2, and keeps inserted_at defaulted.
const (
	tpColumns     = "event_id, user_key, user_id, anonymous_id, ts_ms, event_date, interaction, channel, source, medium, campaign, cost, session_start_ms, kafka_partition, too_late"
	convColumns   = "event_id, user_key, user_id, anonymous_id, ts_ms, event_date, conversion_type, revenue_micros, currency, kafka_partition"
	creditColumns = "conversion_id, conversion_type, user_key, model, version, touchpoint_id, channel, source, medium, campaign, interaction, credit, revenue_micros, currency, touchpoint_ts_ms, conversion_ts_ms, conversion_date, position, path_length"
)

func dateOf(ms int64) time.Time {
	t := time.UnixMilli(ms).UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// insertRows writes rows into their tables, one INSERT per table with
// columnar appends, the tables at once. It returns only when ClickHouse
// acknowledged all; after an error some tables may hold their rows, which
// is harmless: every table collapses identical rows.
func insertRows(ctx context.Context, conn driver.Conn, db string, tps []tpRow, convs []convRow, credits []creditRow, spend []schemas.AdSpend) error {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, f := range []func() error{
		func() error { return insertTouchpoints(ctx, conn, db, tps) },
		func() error { return insertConversions(ctx, conn, db, convs) },
		func() error { return insertCredits(ctx, conn, db, credits) },
		func() error { return insertSpend(ctx, conn, db, spend, "topic") },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func insertTouchpoints(ctx context.Context, conn driver.Conn, db string, tps []tpRow) error {
	if len(tps) > 0 {
		n := len(tps)
		var (
			id, key, uid, aid, inter, ch, src, med, camp = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			ts, sess                                     = make([]int64, n), make([]int64, n)
			late                                         = make([]uint8, n)
			date                                         = make([]time.Time, n)
			cost                                         = make([]float64, n)
			part                                         = make([]int32, n)
		)
		for i := range tps {
			r := &tps[i]
			id[i], key[i], uid[i], aid[i] = r.tp.EventID, r.tp.Key(), r.tp.UserID, r.tp.AnonymousID
			ts[i], date[i], inter[i] = r.tp.TimeMs, dateOf(r.tp.TimeMs), r.tp.Interaction
			ch[i], src[i], med[i], camp[i], cost[i] = r.tp.Channel, r.tp.Source, r.tp.Medium, r.tp.Campaign, r.tp.Cost
			sess[i], part[i] = r.sessionStart, r.partition
			if r.tooLate {
				late[i] = 1
			}
		}
		if err := sendColumns(ctx, conn, "INSERT INTO "+db+".touchpoints ("+tpColumns+")",
			id, key, uid, aid, ts, date, inter, ch, src, med, camp, cost, sess, part, late); err != nil {
			return fmt.Errorf("insert touchpoints: %w", err)
		}
	}
	return nil
}

func insertConversions(ctx context.Context, conn driver.Conn, db string, convs []convRow) error {
	if len(convs) > 0 {
		n := len(convs)
		var (
			id, key, uid, aid, typ, cur = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			ts, rev                     = make([]int64, n), make([]int64, n)
			date                        = make([]time.Time, n)
			part                        = make([]int32, n)
		)
		for i := range convs {
			r := &convs[i]
			id[i], key[i], uid[i], aid[i] = r.cv.EventID, r.cv.Key(), r.cv.UserID, r.cv.AnonymousID
			ts[i], date[i], typ[i], rev[i], cur[i], part[i] = r.cv.TimeMs, dateOf(r.cv.TimeMs), r.cv.ConversionType, r.cv.RevenueMicros, r.cv.Currency, r.partition
		}
		if err := sendColumns(ctx, conn, "INSERT INTO "+db+".conversions ("+convColumns+")",
			id, key, uid, aid, ts, date, typ, rev, cur, part); err != nil {
			return fmt.Errorf("insert conversions: %w", err)
		}
	}
	return nil
}

func insertCredits(ctx context.Context, conn driver.Conn, db string, credits []creditRow) error {
	if len(credits) > 0 {
		n := len(credits)
		var (
			cid, ctyp, key, model, tid, ch, src, med, camp, inter, cur = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			version, pos, plen                                         = make([]uint32, n), make([]uint32, n), make([]uint32, n)
			credit                                                     = make([]float64, n)
			rev, tts, cts                                              = make([]int64, n), make([]int64, n), make([]int64, n)
			date                                                       = make([]time.Time, n)
		)
		for i := range credits {
			r := &credits[i]
			cid[i], ctyp[i], key[i], model[i], version[i] = r.ConversionID, r.ConversionType, r.UserKey, r.Model, r.version
			tid[i], ch[i], src[i], med[i], camp[i], inter[i] = r.TouchpointID, r.Channel, r.Source, r.Medium, r.Campaign, r.Interaction
			credit[i], rev[i], cur[i], tts[i], cts[i] = r.Credit, r.RevenueMicros, r.Currency, r.TouchpointTimeMs, r.ConversionTimeMs
			date[i], pos[i], plen[i] = dateOf(r.ConversionTimeMs), uint32(r.Position), uint32(r.PathLength)
		}
		if err := sendColumns(ctx, conn, "INSERT INTO "+db+".attributed_conversions ("+creditColumns+")",
			cid, ctyp, key, model, version, tid, ch, src, med, camp, inter, credit, rev, cur, tts, cts, date, pos, plen); err != nil {
			return fmt.Errorf("insert attributed_conversions: %w", err)
		}
	}
	return nil
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
	n := len(rows)
	id, ch, src, med, camp, cur, org := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	date := make([]time.Time, n)
	cost := make([]int64, n)
	for i := range rows {
		r := &rows[i]
		id[i], date[i], ch[i], src[i], med[i], camp[i], cost[i], cur[i], org[i] = r.EventID, r.Date, r.Channel, r.Source, r.Medium, r.Campaign, r.CostMicros, r.Currency, origin
	}
	if err := sendColumns(ctx, conn, "INSERT INTO "+db+".ad_spend ("+spendColumns+")", id, date, ch, src, med, camp, cost, cur, org); err != nil {
		return fmt.Errorf("insert ad_spend: %w", err)
	}
	return nil
}

func sendColumns(ctx context.Context, conn driver.Conn, query string, cols ...any) error {
	batch, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			batch.Abort()
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return batch.Send()
}

// history is what ClickHouse holds of some users: touchpoints and the
// conversions already attributed.
type history struct {
	touchpoints map[string][]attribution.Touchpoint
	conversions map[string][]schemas.Conversion
}

// loadHistory reads the stored touchpoints of keys with ts_ms >= tpFromMs,
// and their stored conversions with ts_ms >= convFromMs. The keys travel as
// an external table, never inside the SQL text.
func loadHistory(ctx context.Context, conn driver.Conn, db string, keys []string, tpFromMs, convFromMs int64) (history, error) {
	h := history{touchpoints: map[string][]attribution.Touchpoint{}, conversions: map[string][]schemas.Conversion{}}
	if len(keys) == 0 {
		return h, nil
	}
	keyTable := func() (*ext.Table, error) {
		t, err := ext.NewTable("history_keys", ext.Column("user_key", "String"))
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if err := t.Append(k); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	kt, err := keyTable()
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
		h.touchpoints[key] = append(h.touchpoints[key], tp)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("load touchpoints: %w", err)
	}
	rows.Close()

	kt, err = keyTable()
	if err != nil {
		return h, err
	}
	rows, err = conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT user_key, event_id, user_id, anonymous_id, ts_ms, conversion_type, revenue_micros, currency FROM "+db+".conversions"+
			" WHERE user_key IN (SELECT user_key FROM history_keys) AND ts_ms >= ?", convFromMs)
	if err != nil {
		return h, fmt.Errorf("load conversions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var cv schemas.Conversion
		if err := rows.Scan(&key, &cv.EventID, &cv.UserID, &cv.AnonymousID, &cv.TimeMs, &cv.ConversionType, &cv.RevenueMicros, &cv.Currency); err != nil {
			return h, fmt.Errorf("load conversions: %w", err)
		}
		h.conversions[key] = append(h.conversions[key], cv)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("load conversions: %w", err)
	}
	return h, nil
}

// loadFrontiers returns, per partition, the latest event time of the
// conversions already attributed: a touchpoint at or before it may belong to
// an attributed conversion and must be checked for re-attribution.
func loadFrontiers(ctx context.Context, conn driver.Conn, db string) (map[int32]int64, error) {
	rows, err := conn.Query(ctx, "SELECT kafka_partition, max(ts_ms) FROM "+db+".conversions GROUP BY kafka_partition")
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
func loadStoredKeys(ctx context.Context, conn driver.Conn, db string, partitions []int32, fromMs int64) (tpKeys, convKeys []string, err error) {
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
// time: where each partition's watermark stood when its last owner stopped.
func latestTouchpoints(ctx context.Context, conn driver.Conn, db string, partitions []int32) (map[int32]int64, error) {
	out := map[int32]int64{}
	if len(partitions) == 0 {
		return out, nil
	}
	rows, err := conn.Query(ctx, "SELECT kafka_partition, max(ts_ms) FROM "+db+".touchpoints WHERE kafka_partition IN ? GROUP BY kafka_partition", partitionSet(partitions))
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
