// Command queries measures analysts' queries and the disk they cost as the
// credited data grows:
//
//	queries --database bench_..._q1000000 --conversions 1000000
//
// It creates the database (`attributor migrate`'s schema), fills it with
// --conversions generated conversions written through the attributor's own
// sink (pipeline/sink: raw touchpoints and conversions, and every model's
// credited rows under each version; --reattributed of the conversions are
// credited again later, after late touchpoints, so their earlier versions
// stay stored), waits for ClickHouse's merges, then:
//
//   - prints the disk the database takes per credited conversion, from
//     system.parts: every table but the raw-event ones (touchpoints,
//     conversions, identities, ad_spend) holds credits, whatever the layout;
//   - rolls up every day (pipeline/rollup, as `attributor rollup` does;
//     --no-rollup: not) and times it;
//   - times these queries, --runs times each (median), every one only
//     through the public views and tables analysts read:
//     by_model_channel  credited_daily summed by model and channel
//     model_comparison  the whole model_comparison view
//     channel_month     channel_performance, one model, one month
//     one_conversion_compact  attributed_conversions FINAL of one
//     (re-attributed) conversion, by id
//     one_conversion_lookup  that conversion's rows of credited_conversions
//     as analysts read them by id (schemas.CreditedByIDSQL: the view's
//     unfolding over the compact rows found through conversion_versions;
//     schema version 4 on)
//     one_conversion_inner  the same unfolding with only the id in its
//     FINAL read (what schema version 3 allowed)
//     and with --unfolded (default) the same through the unfolded rows:
//     by_model_channel_unfolded  credited_conversions summed by model and
//     channel
//     one_conversion    credited_conversions rows of one conversion, by id
//     and reads each query's read_rows and read_bytes from system.query_log,
//     next to the rows stored, to show whether it read every stored version.
//
// Then, with --live-day, the same three aggregates with that day read live,
// as after a write into a rolled-up day: *_live_credits with the day's
// credits live (a re-attribution: a 'credits' mark, as the sink writes),
// *_live_today with its touchpoints live too (today, being written); the
// day is rolled up again afterwards.
//
// --reuse reads a database that an earlier run (of the same --conversions,
// --seed, --start, --days, --reattributed) filled and kept: it is migrated
// to this binary's schema (timed: migrate_seconds, a table rebuild when
// the schema changed), not filled again; the generated conversions are
// regenerated for the checks, and the days not validly rolled up are
// rolled up.
//
// A query that fails (ClickHouse stops it over its memory limit or
// --query-timeout, or it does not answer within --query-timeout plus two
// minutes) is reported as <query>_error with the message, and not run again.
//
// The first run of by_model_channel (and of by_model_channel_unfolded) checks the fill: every model credits
// every conversion exactly once and its revenue sums to the generated
// revenue (the view shows the current version only).
//
// Results go to stdout as "metric<TAB>value" lines; progress to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/schemas"
)

func main() {
	var (
		chAddr    = flag.String("clickhouse", "127.0.0.1:9000", "ClickHouse native `host:port`")
		db        = flag.String("database", "", "`database` to create and fill (must start with bench_)")
		n         = flag.Int("conversions", 1_000_000, "conversions to generate")
		seed      = flag.Int64("seed", 1, "generator seed")
		start     = flag.String("start", "2026-08-01", "first conversion `day` (UTC)")
		days      = flag.Int("days", 92, "conversions spread over this many days")
		month     = flag.String("month", "2026-09", "the `month` (YYYY-MM) channel_performance is read for")
		model     = flag.String("model", "linear", "the model channel_performance is read for")
		re        = flag.Float64("reattributed", 0.10, "share of conversions credited again after late touchpoints (a fifth of them twice)")
		reDelay   = flag.Int("reattribute-after", 100_000, "a later version is written this many conversions after the one before")
		flushRows = flag.Int("flush-rows", 200_000, "the sink's flush size in rows (attributor --flush-rows)")
		unit      = flag.Int("unit-conversions", 500, "conversions per unit handed to the sink (as a shard's batch)")
		runs      = flag.Int("runs", 5, "runs of each query")
		settle    = flag.Duration("settle", 10*time.Minute, "wait at most this long for merges after the fill")
		progress  = flag.Duration("progress", 30*time.Second, "progress line interval on stderr (0: none)")
		timeout   = flag.Duration("query-timeout", 10*time.Minute, "a query running longer is stopped (max_execution_time) and reported as failed")
		noRollup  = flag.Bool("no-rollup", false, "do not roll up before the queries: the views then aggregate every day live")
		unfolded  = flag.Bool("unfolded", true, "also time by_model_channel and one_conversion through credited_conversions (the unfolded rows)")
		liveDay   = flag.String("live-day", "2026-09-15", "`day` read live in the *_live_* queries (\"\": none)")
		reuse     = flag.Bool("reuse", false, "reuse the database when an earlier run filled it: migrate it, do not fill it again")
	)
	flag.Parse()
	if err := run(*chAddr, *db, *month, *model, *liveDay, *n, *seed, *start, *days, *re, *reDelay, *flushRows, *unit, *runs, *settle, *progress, *timeout, *noRollup, *unfolded, *reuse); err != nil {
		fmt.Fprintf(os.Stderr, "queries: %v\n", err)
		os.Exit(1)
	}
}

func result(metric string, v any) { fmt.Printf("%s\t%v\n", metric, v) }

func run(chAddr, db, month, model, liveDay string, n int, seed int64, start string, days int, re float64, reDelay, flushRows, unit, runs int, settle, progress, timeout time.Duration, noRollup, unfolded, reuse bool) error {
	if err := schemas.ValidIdentifier(db); err != nil || !strings.HasPrefix(db, "bench_") {
		return fmt.Errorf("database %q: must be a valid identifier starting with bench_ (it is filled)", db)
	}
	day, err := time.Parse("2006-01-02", start)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	monthStart, err := time.Parse("2006-01", month)
	if err != nil {
		return fmt.Errorf("month: %w", err)
	}
	if liveDay != "" {
		if _, err := time.Parse("2006-01-02", liveDay); err != nil {
			return fmt.Errorf("live-day: %w", err)
		}
	}
	switch {
	case n <= 0:
		return errors.New("conversions: must be > 0")
	case days <= 0:
		return errors.New("days: must be > 0")
	case re < 0 || re > 1:
		return errors.New("reattributed: must be in [0, 1]")
	case timeout < time.Second:
		return errors.New("query-timeout: must be >= 1s")
	case runs <= 0:
		return errors.New("runs: must be > 0")
	case unit <= 0 || reDelay <= 0 || flushRows <= 0:
		return errors.New("unit-conversions, reattribute-after, flush-rows: must be > 0")
	}
	// Stopped (bench.sh's Ctrl-C, a kill), it cancels the running query
	// on the server too, which would otherwise run on after the client.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := pipeline.OpenClickHouse(ctx, pipeline.ClickHouseConfig{Addr: chAddr, Username: "default", DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg := genConfig{Seed: seed, Conversions: n, Start: day, Days: days, Reattributed: re}
	filled := false
	if reuse {
		if filled, err = hasCredits(ctx, conn, db); err != nil {
			return err
		}
	}
	migrated := time.Now()
	if err := migrate.Migrate(ctx, conn, db); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var fs fillStats
	if filled {
		result("migrate_seconds", fmt.Sprintf("%.1f", time.Since(migrated).Seconds()))
		fmt.Fprintf(os.Stderr, "queries: reusing %s (migrated in %s)\n", db, time.Since(migrated).Round(time.Millisecond))
		fs = regenerated(cfg)
		result("conversions", fs.conversions)
		result("versions", fs.versions)
	} else {
		fmt.Fprintf(os.Stderr, "queries: filling %s with %d conversions through the sink\n", db, n)
		if fs, err = fill(ctx, conn, db, cfg, flushRows, unit, reDelay, progress); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
		result("conversions", fs.conversions)
		result("versions", fs.versions)
		result("versions_per_conversion", fmt.Sprintf("%.4f", float64(fs.versions)/float64(fs.conversions)))
		result("touchpoints", fs.touchpoints)
		result("credited_rows_written", fs.credited)
		result("fill_seconds", fmt.Sprintf("%.1f", fs.seconds))
		result("fill_conversions_per_s", fmt.Sprintf("%.0f", float64(fs.conversions)/fs.seconds))
	}

	waited, left, err := settleMerges(ctx, conn, db, settle)
	if err != nil {
		return err
	}
	result("settle_seconds", fmt.Sprintf("%.1f", waited.Seconds()))
	result("merges_left", left)
	if !noRollup {
		// What `attributor rollup` (or `attributor run` every
		// --rollup-every) does once the days are quiet: here every day
		// at once, the first rollup of a filled database.
		res, err := rollup.Run(ctx, conn, rollup.Options{Database: db, Quiet: -1})
		if err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
		result("rollup_seconds", fmt.Sprintf("%.1f", res.Elapsed.Seconds()))
		result("rollup_credit_days", res.CreditDays)
		result("rollup_touchpoint_days", res.TouchpointDays)
		fmt.Fprintf(os.Stderr, "queries: rolled up %d + %d days in %s\n", res.CreditDays, res.TouchpointDays, res.Elapsed.Round(time.Millisecond))
		if _, _, err := settleMerges(ctx, conn, db, settle); err != nil {
			return err
		}
	}
	tables, err := storage(ctx, conn, db)
	if err != nil {
		return err
	}
	var creditBytes, creditRows, creditParts, allBytes, compactRows uint64
	for _, t := range tables {
		allBytes += t.bytes
		if t.name == "attributed_conversions" {
			compactRows = t.rows
		}
		if !rawTables[t.name] {
			creditBytes += t.bytes
			creditRows += t.rows
			creditParts += t.parts
		}
		result("table_"+t.name+"_rows", t.rows)
		result("table_"+t.name+"_bytes", t.bytes)
		result("table_"+t.name+"_parts", t.parts)
	}
	result("credit_tables_rows", creditRows)
	result("credit_tables_bytes", creditBytes)
	result("credit_tables_parts", creditParts)
	result("disk_bytes_per_conversion", fmt.Sprintf("%.1f", float64(creditBytes)/float64(n)))
	result("database_bytes_per_conversion", fmt.Sprintf("%.1f", float64(allBytes)/float64(n)))

	from := monthStart.Format("2006-01-02")
	to := monthStart.AddDate(0, 1, 0).Format("2006-01-02")
	queries := []benchQuery{
		{"by_model_channel", "SELECT model, channel, sum(conversions) AS conversions, sum(revenue_micros) AS revenue_micros, sum(credited_rows) AS rows FROM " + db + ".credited_daily GROUP BY model, channel ORDER BY model, channel", nil},
		{"model_comparison", "SELECT * FROM " + db + ".model_comparison ORDER BY date, channel", nil},
		{"channel_month", "SELECT * FROM " + db + ".channel_performance WHERE model = '" + model + "' AND date >= '" + from + "' AND date < '" + to + "' ORDER BY date, channel, campaign", nil},
		{"one_conversion_compact", "SELECT * FROM " + db + ".attributed_conversions FINAL WHERE conversion_id = '" + fs.sample + "'", nil},
	}
	lookup, err := schemas.CreditedByIDSQL(db, fs.sample)
	if err != nil {
		return err
	}
	inner := dateFilter.ReplaceAllString(lookup, "")
	var want uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(sum(length(models) * greatest(path_length, 1))) FROM "+db+".attributed_conversions FINAL WHERE conversion_id = ?", fs.sample).Scan(&want); err != nil || want == 0 {
		return fmt.Errorf("the sample conversion %q: %d credited rows, %v", fs.sample, want, err)
	}
	checkRows := func(rows driver.Rows) (int, error) {
		n := 0
		for rows.Next() {
			n++
		}
		if uint64(n) != want {
			return n, &checkError{fmt.Sprintf("%d credited rows of %s, want %d", n, fs.sample, want)}
		}
		return n, nil
	}
	queries = append(queries,
		benchQuery{"one_conversion_lookup", lookup, checkRows},
		benchQuery{"one_conversion_inner", inner, checkRows})
	if unfolded {
		queries = append(queries,
			benchQuery{"by_model_channel_unfolded", "SELECT model, channel, sum(credit) AS conversions, sum(revenue_micros) AS revenue_micros, count() AS rows FROM " + db + ".credited_conversions GROUP BY model, channel ORDER BY model, channel", nil},
			benchQuery{"one_conversion", "SELECT * FROM " + db + ".credited_conversions WHERE conversion_id = '" + fs.sample + "' ORDER BY model, position", nil})
	}
	check := func(rows driver.Rows) (int, error) { return checkTotals(rows, fs.conversions, fs.revenue) }
	queries[0].check = check
	if unfolded {
		queries[len(queries)-2].check = check
		queries[len(queries)-1].check = checkRows
	}
	if fs.sample == "" {
		return errors.New("no re-attributed conversion to read by id: raise --reattributed")
	}
	// The analysts' connection: the sink's gives up reading after 5
	// minutes, less than a slow query may take here.
	qconn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{chAddr}, Auth: clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 5 * time.Second, ReadTimeout: timeout + 2*time.Minute,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return fmt.Errorf("clickhouse %s: %w", chAddr, err)
	}
	defer qconn.Close()
	ids := map[string][]string{}
	failed := map[string]bool{}
	stamp := time.Now().Unix() // query ids unique across runs on a reused database
	timeAll := func(queries []benchQuery) error {
		for r := 0; r < runs; r++ {
			for qi := range queries {
				q := &queries[qi]
				if failed[q.name] {
					continue
				}
				id := fmt.Sprintf("%s_%s_%d_%d", db, q.name, stamp, r)
				ms, rowsOut, err := timeQuery(ctx, qconn, id, q, r == 0, timeout)
				if err != nil {
					var ce *checkError
					if errors.As(err, &ce) || ctx.Err() != nil {
						return fmt.Errorf("%s: %w", q.name, err)
					}
					// ClickHouse refused it (over the memory limit, the time
					// limit) or did not answer in time: a result, not a
					// failure of the benchmark.
					failed[q.name] = true
					result(q.name+"_error", strings.Join(strings.Fields(err.Error()), " "))
					fmt.Fprintf(os.Stderr, "queries: %s run %d failed: %v\n", q.name, r+1, err)
					continue
				}
				ids[q.name] = append(ids[q.name], id)
				result(q.name+"_ms", fmt.Sprintf("%.1f", ms))
				if r == 0 {
					result(q.name+"_result_rows", rowsOut)
				}
				fmt.Fprintf(os.Stderr, "queries: %s run %d: %.0f ms\n", q.name, r+1, ms)
			}
		}
		return nil
	}
	if err := timeAll(queries); err != nil {
		return err
	}
	if liveDay != "" {
		live, err := liveQueries(ctx, conn, db, liveDay, queries[:3], timeAll)
		if err != nil {
			return err
		}
		queries = append(queries, live...)
	}
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return fmt.Errorf("flush logs: %w", err)
	}
	for _, q := range queries {
		if len(ids[q.name]) == 0 {
			continue
		}
		logs, err := queryLog(ctx, conn, ids[q.name])
		if err != nil {
			return err
		}
		if len(logs) == 0 {
			return fmt.Errorf("%s: not in system.query_log", q.name)
		}
		m := medianLog(logs)
		result(q.name+"_read_rows", m.readRows)
		result(q.name+"_read_bytes", m.readBytes)
		result(q.name+"_memory_bytes", m.memory)
		result(q.name+"_read_rows_per_stored_credit_row", fmt.Sprintf("%.3f", float64(m.readRows)/float64(max(1, creditRows))))
		result(q.name+"_read_rows_per_compact_row", fmt.Sprintf("%.3f", float64(m.readRows)/float64(max(1, compactRows))))
	}
	return nil
}

// rawTables hold the events as consumed (touchpoints_by_day: touchpoints'
// reach columns again, sorted by day; its bytes print as table_*_bytes);
// every other table of the database holds credits (or nothing).
var rawTables = map[string]bool{"touchpoints": true, "touchpoints_by_day": true, "conversions": true, "identities": true, "links": true, "ad_spend": true, "schema_versions": true, "model_fits": true}

type benchQuery struct {
	name, sql string
	check     func(driver.Rows) (int, error) // reads the first run's rows; nil: none
}

// timeQuery runs q once, reading every row it returns, and returns the
// wall time in ms and the rows returned. The query is logged in
// system.query_log under id.
func timeQuery(ctx context.Context, conn driver.Conn, id string, q *benchQuery, first bool, timeout time.Duration) (float64, int, error) {
	qctx := clickhouse.Context(ctx, clickhouse.WithQueryID(id), clickhouse.WithSettings(clickhouse.Settings{
		"log_queries": 1, "max_execution_time": int(timeout.Seconds())}))
	began := time.Now()
	rows, err := conn.Query(qctx, q.sql)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	n := 0
	if first && q.check != nil {
		if n, err = q.check(rows); err != nil {
			return 0, 0, err
		}
	} else {
		for rows.Next() {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	ms := float64(time.Since(began).Microseconds()) / 1000
	return ms, n, nil
}

// checkTotals reads the rows of by_model_channel and checks that each
// model credits conversions once each, its revenue summing to revenue.
func checkTotals(rows driver.Rows, conversions int, revenue int64) (int, error) {
	credit := map[string]float64{}
	rev := map[string]int64{}
	out := 0
	for rows.Next() {
		out++
		var model, channel string
		var c float64
		var r int64
		var n uint64
		if err := rows.Scan(&model, &channel, &c, &r, &n); err != nil {
			return 0, err
		}
		credit[model] += c
		rev[model] += r
	}
	if len(credit) == 0 {
		return 0, &checkError{"credited_conversions is empty"}
	}
	for m, c := range credit {
		if c < float64(conversions)-0.5 || c > float64(conversions)+0.5 || rev[m] != revenue {
			return 0, &checkError{fmt.Sprintf("model %s credits %.1f conversions and %d revenue micros, want %d and %d (one current version per conversion)", m, c, rev[m], conversions, revenue)}
		}
	}
	return out, nil
}

// checkError is a fill that the views do not show as written.
type checkError struct{ msg string }

func (e *checkError) Error() string { return "check: " + e.msg }

type tableSize struct {
	name               string
	rows, bytes, parts uint64
}

// storage returns the active parts' rows and bytes per table of db.
func storage(ctx context.Context, conn driver.Conn, db string) ([]tableSize, error) {
	rows, err := conn.Query(ctx, "SELECT table, toUInt64(sum(rows)), toUInt64(sum(bytes_on_disk)), toUInt64(count()) FROM system.parts WHERE database = ? AND active GROUP BY table ORDER BY table", db)
	if err != nil {
		return nil, fmt.Errorf("system.parts: %w", err)
	}
	defer rows.Close()
	var out []tableSize
	for rows.Next() {
		var t tableSize
		if err := rows.Scan(&t.name, &t.rows, &t.bytes, &t.parts); err != nil {
			return nil, fmt.Errorf("system.parts: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// settleMerges waits until no merge of db runs, at most limit; it returns
// how long it waited and the merges still running.
func settleMerges(ctx context.Context, conn driver.Conn, db string, limit time.Duration) (time.Duration, uint64, error) {
	began := time.Now()
	for {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.merges WHERE database = ?", db).Scan(&n); err != nil {
			return 0, 0, fmt.Errorf("system.merges: %w", err)
		}
		if n == 0 || time.Since(began) >= limit {
			return time.Since(began), n, nil
		}
		time.Sleep(time.Second)
	}
}

type logEntry struct {
	durationMs                  uint64
	readRows, readBytes, memory uint64
}

func queryLog(ctx context.Context, conn driver.Conn, ids []string) ([]logEntry, error) {
	set := clickhouse.GroupSet{}
	for _, id := range ids {
		set.Value = append(set.Value, id)
	}
	rows, err := conn.Query(ctx, "SELECT toUInt64(query_duration_ms), toUInt64(read_rows), toUInt64(read_bytes), toUInt64(memory_usage) FROM system.query_log WHERE CAST(type, 'Int8') = 2 AND query_id IN ?", set)
	if err != nil {
		return nil, fmt.Errorf("system.query_log: %w", err)
	}
	defer rows.Close()
	var out []logEntry
	for rows.Next() {
		var e logEntry
		if err := rows.Scan(&e.durationMs, &e.readRows, &e.readBytes, &e.memory); err != nil {
			return nil, fmt.Errorf("system.query_log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// medianLog returns the entry of median duration (the lower middle one).
func medianLog(v []logEntry) logEntry {
	s := slices.Clone(v)
	slices.SortFunc(s, func(a, b logEntry) int { return int(a.durationMs) - int(b.durationMs) })
	return s[(len(s)-1)/2]
}

// dateFilter is the line of schemas.CreditedByIDSQL that finds the
// conversion's dates through conversion_versions.
var dateFilter = regexp.MustCompile(`\n\s*AND conversion_date IN \(SELECT conversion_date FROM \w+\.conversion_versions WHERE [^\n]*\)`)

// liveQueries times the aggregates (by_model_channel, model_comparison,
// channel_month) with day read live: first with its credits live (a
// 'credits' mark, what the sink writes after a re-attribution into the
// day), then with its touchpoints live too (a day being written, as
// today). Then it rolls the day up again. It returns the queries it timed.
func liveQueries(ctx context.Context, conn driver.Conn, db, day string, aggregates []benchQuery, timeAll func([]benchQuery) error) ([]benchQuery, error) {
	var out []benchQuery
	for _, step := range []struct{ kind, suffix string }{{"credits", "_live_credits"}, {"touchpoints", "_live_today"}} {
		// INSERT ... SELECT: over the native protocol an INSERT ... VALUES
		// leaves 18.16 waiting for a block of data.
		if err := conn.Exec(ctx, "INSERT INTO "+db+".rollup_marks (kind, date) SELECT '"+step.kind+"', toDate('"+day+"')"); err != nil {
			return nil, fmt.Errorf("mark %s live: %w", day, err)
		}
		var live uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+db+".rollup_valid_days WHERE date = '"+day+"'").Scan(&live); err != nil {
			return nil, err
		}
		if step.kind == "credits" && live != 1 || step.kind == "touchpoints" && live != 0 {
			return nil, fmt.Errorf("after the %s mark, %s is validly rolled up for %d kinds: the mark did not take", step.kind, day, live)
		}
		qs := slices.Clone(aggregates)
		for i := range qs {
			qs[i].name += step.suffix
		}
		if err := timeAll(qs); err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	res, err := rollup.Run(ctx, conn, rollup.Options{Database: db, Quiet: -1})
	if err != nil {
		return nil, fmt.Errorf("roll %s up again: %w", day, err)
	}
	result("live_day_rollup_seconds", fmt.Sprintf("%.1f", res.Elapsed.Seconds()))
	return out, nil
}

// hasCredits reports whether db holds credited conversions (an earlier
// run filled it).
func hasCredits(ctx context.Context, conn driver.Conn, db string) (bool, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.tables WHERE database = ? AND name = 'attributed_conversions'", db).Scan(&n); err != nil || n == 0 {
		return false, err
	}
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+db+".attributed_conversions").Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// regenerated returns what fill wrote for cfg, from the generator alone.
func regenerated(cfg genConfig) fillStats {
	fs := fillStats{conversions: cfg.Conversions}
	mid := cfg.Conversions / 2
	for i := 0; i < cfg.Conversions; i++ {
		c := gen(cfg, i)
		fs.revenue += c.Revenue
		fs.versions += c.Versions()
		if fs.sample == "" && i >= mid && c.Versions() > 1 {
			fs.sample = c.ID
		}
	}
	return fs
}
