package migrate_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

// v1Schema creates database db as schema version 1 made it
// (testdata/v1: the release before the compact layout) and records that
// version, as its Migrate did. withFitID false makes attributed_conversions
// as version 0 did, before fit_id.
func v1Schema(t *testing.T, env *pipelinetest.Env, db string, withFitID bool) {
	t.Helper()
	for _, s := range v1Statements(t, db, withFitID) {
		if err := env.CH.Exec(t.Context(), s.SQL); err != nil {
			t.Fatalf("%s: %v\n%s", s.File, err, s.SQL)
		}
	}
	recordV1(t, env.CH, db)
}

// v1Statements returns the DDL of testdata/v1 for database db.
func v1Statements(t *testing.T, db string, withFitID bool) []schemas.Statement {
	t.Helper()
	files, err := filepath.Glob("testdata/v1/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("v1 DDL: %v (%d files)", err, len(files))
	}
	slices.Sort(files)
	var out []schemas.Statement
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur strings.Builder
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "--") || (!withFitID && strings.Contains(line, "fit_id           String DEFAULT ''")) {
				continue
			}
			cur.WriteString(line + "\n")
			if strings.HasSuffix(strings.TrimSpace(line), ";") {
				sql := strings.ReplaceAll(strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"), "{db}", db)
				if !withFitID {
					sql = strings.ReplaceAll(strings.ReplaceAll(sql, "    fit_id,\n", ""), "inserted_at      DateTime DEFAULT now(),", "inserted_at      DateTime DEFAULT now()")
				}
				out = append(out, schemas.Statement{File: f, SQL: sql})
				cur.Reset()
			}
		}
	}
	return out
}

// recordV1 (re)creates the schema_versions table of db holding version 1.
func recordV1(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + db + ".schema_versions",
		"CREATE TABLE " + db + ".schema_versions (version UInt32, written_by String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version",
	} {
		if err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	b, err := conn.PrepareBatch(t.Context(), "INSERT INTO "+db+".schema_versions (version, written_by)")
	if err == nil {
		if err = b.Append(uint32(1), "attributor v1"); err == nil {
			err = b.Send()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// fillV1 writes credited rows into the v1 attributed_conversions of db as
// the v1 sink did: a row per conversion x model x touchpoint, the rows of
// replay.CreditRows (the layout the stream and replay share) with the
// version and the conversion's date. The conversions span three months,
// have paths of 0 to 5 touchpoints (0: the unattributed row, channel
// '(none)'), a data-driven-like model with a fit id; every 7th has a
// superseded earlier version, every 5th is written twice (a replay).
func fillV1(t *testing.T, conn driver.Conn, db string, withFitID bool) {
	t.Helper()
	models := []string{"last_click", "linear", "position_based"}
	fitIDs := []string{"", "", "fit-7"}
	eng, err := attribution.NewEngine(attribution.Config{Models: models})
	if err != nil {
		t.Fatal(err)
	}
	cols := "conversion_id, conversion_type, user_key, model, version, touchpoint_id, channel, source, medium, campaign, interaction, credit, revenue_micros, currency, touchpoint_ts_ms, conversion_ts_ms, conversion_date, position, path_length"
	if withFitID {
		cols += ", fit_id"
	}
	batch, err := conn.PrepareBatch(t.Context(), "INSERT INTO "+db+".attributed_conversions ("+cols+")")
	if err != nil {
		t.Fatal(err)
	}
	channels := []string{"email", "paid_search", "direct", "paid_social", "organic_search"}
	start := time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC).UnixMilli()
	var res attribution.Result
	var row schemas.CreditedRow
	write := func(cv *schemas.Conversion, tps []attribution.Touchpoint, version uint32) {
		eng.Attribute(attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros}, tps, attribution.NoReset, &res)
		err := replay.CreditRows(&row, models, fitIDs, cv, "u-"+cv.EventID, &res, func(r *schemas.CreditedRow) error {
			day := time.UnixMilli(r.ConversionTimeMs).UTC().Truncate(24 * time.Hour)
			v := []any{r.ConversionID, r.ConversionType, r.UserKey, r.Model, version, r.TouchpointID, r.Channel, r.Source, r.Medium, r.Campaign,
				r.Interaction, r.Credit, r.RevenueMicros, r.Currency, r.TouchpointTimeMs, r.ConversionTimeMs, day, uint32(r.Position), uint32(r.PathLength)}
			if withFitID {
				v = append(v, r.FitID)
			}
			return batch.Append(v...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		cvMs := start + int64(i)*7*3600*1000 // about 87 days: three months
		cv := schemas.Conversion{EventID: fmt.Sprintf("c%03d", i), TimeMs: cvMs, ConversionType: "purchase", RevenueMicros: int64(1+i%13)*1_000_000 + int64(i), Currency: "EUR"}
		var tps []attribution.Touchpoint
		for k := range i % 6 {
			tps = append(tps, attribution.Touchpoint{
				ID: fmt.Sprintf("t%03d-%d", i, k), TimeMs: cvMs - int64(6-k)*3600*1000, Impression: (i+k)%4 == 0,
				Channel: channels[(i+k)%len(channels)], Source: fmt.Sprint("src", k), Medium: "m", Campaign: fmt.Sprint("camp", (i+k)%3),
			})
		}
		if i%7 == 0 && len(tps) > 0 {
			write(&cv, tps[1:], uint32(10+len(tps)-1)) // superseded by the version below
		}
		write(&cv, tps, uint32(10+len(tps)))
		if i%5 == 0 {
			write(&cv, tps, uint32(10+len(tps)))
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

// viewRows reads a view or query whole, each row as text (floats to nine
// significant digits: sums of credit may add in another order), sorted.
func viewRows(t *testing.T, conn driver.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	types := rows.ColumnTypes()
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		var b strings.Builder
		for _, v := range vals {
			x := reflect.ValueOf(v).Elem().Interface()
			switch f := x.(type) {
			case float64:
				if math.Abs(f) < 1e-9 {
					f = 0
				}
				fmt.Fprintf(&b, "%.9g\t", f)
			case *float64:
				if f != nil {
					fmt.Fprintf(&b, "%.9g\t", *f)
				} else {
					b.WriteString("NULL\t")
				}
			default:
				fmt.Fprintf(&b, "%v\t", x)
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	slices.Sort(out)
	return out
}

// analystViews are the views whose rows a migration must not change.
var analystViews = []string{"credited_conversions", "conversion_paths", "model_comparison", "channel_performance",
	"assisted_conversions", "time_to_conversion", "path_length", "top_paths", "cohort_value"}

// snapshot reads every analyst view of db. Its "columns" entry lists each
// view's columns: a later snapshot given it reads those (a version 0
// database's views lack fit_id, which the migration adds).
func snapshot(t *testing.T, conn driver.Conn, db string, columns map[string][]string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, v := range analystViews {
		cols := columns[v]
		if cols == nil {
			for _, r := range viewRows(t, conn, "SELECT name FROM system.columns WHERE database = '"+db+"' AND table = '"+v+"'") {
				cols = append(cols, strings.TrimSpace(r))
			}
			out["columns:"+v] = cols
		}
		out[v] = viewRows(t, conn, "SELECT "+strings.Join(cols, ", ")+" FROM "+db+"."+v)
	}
	return out
}

// columnsOf returns the view columns a snapshot recorded.
func columnsOf(snap map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, v := range analystViews {
		out[v] = snap["columns:"+v]
	}
	return out
}

func sameViews(t *testing.T, when string, got, want map[string][]string) {
	t.Helper()
	for _, v := range analystViews {
		g, w := got[v], want[v]
		if len(w) == 0 && v == "credited_conversions" {
			t.Fatalf("%s: the v1 database shows no credited rows", when)
		}
		if !slices.Equal(g, w) {
			t.Errorf("%s: %s has %d rows, want %d (as before the migration)", when, v, len(g), len(w))
			for i := 0; i < len(g) || i < len(w); i++ {
				var a, b string
				if i < len(g) {
					a = g[i]
				}
				if i < len(w) {
					b = w[i]
				}
				if a != b {
					t.Errorf("first difference at row %d:\n got %s\nwant %s", i, a, b)
					break
				}
			}
		}
	}
}

// compactCounts returns the compact table's rows and its distinct
// (conversion_id, version) pairs: equal when no copy was made twice.
func compactCounts(t *testing.T, conn driver.Conn, db string) (rows, pairs uint64) {
	t.Helper()
	if err := conn.QueryRow(t.Context(), "SELECT count(), uniqExact(conversion_id, version) FROM "+db+".attributed_conversions").Scan(&rows, &pairs); err != nil {
		t.Fatal(err)
	}
	return rows, pairs
}

// A database written by the previous release (schema version 1, a row per
// conversion x model x touchpoint x version) is converted by Migrate into
// the compact layout without losing a row: every analyst view shows the
// same rows after as before; every stored version is copied (the
// superseded ones too, which the view hides); a second Migrate changes
// nothing; the v1 table is kept. An interrupted migration completes when
// run again: interrupted after the rename, and in the middle of the copy
// (a month missing, the version not yet recorded).
func TestMigrateConvertsV1Database(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	for _, withFitID := range []bool{true, false} {
		db := fmt.Sprintf("%s_fit%v", env.Database, withFitID)
		t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
		v1Schema(t, env, db, withFitID)
		fillV1(t, env.CH, db, withFitID)
		before := snapshot(t, env.CH, db, nil)
		var v1Pairs uint64
		if err := env.CH.QueryRow(ctx, "SELECT uniqExact(conversion_id, version) FROM "+db+".attributed_conversions").Scan(&v1Pairs); err != nil {
			t.Fatal(err)
		}
		if err := migrate.Migrate(ctx, env.CH, db); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		sameViews(t, "after the migration", snapshot(t, env.CH, db, columnsOf(before)), before)
		rows, pairs := compactCounts(t, env.CH, db)
		if rows != v1Pairs || pairs != v1Pairs {
			t.Errorf("compact table: %d rows, %d (conversion, version) pairs; want %d of each, one per v1 pair", rows, pairs, v1Pairs)
		}
		var kept uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+db+".attributed_conversions_v1").Scan(&kept); err != nil || kept == 0 {
			t.Errorf("the v1 table is not kept: %d rows, %v", kept, err)
		}

		// Run again: nothing copied twice.
		if err := migrate.Migrate(ctx, env.CH, db); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		if r, p := compactCounts(t, env.CH, db); r != rows || p != pairs {
			t.Errorf("a second Migrate changed the compact table: %d rows, %d pairs; was %d, %d", r, p, rows, pairs)
		}

		// Interrupted in the copy: a month of compact rows missing, the
		// version not recorded yet. Run again: completed, nothing twice.
		if err := env.CH.Exec(ctx, "ALTER TABLE "+db+".attributed_conversions DROP PARTITION 202611"); err != nil {
			t.Fatal(err)
		}
		recordV1(t, env.CH, db)
		if r, _ := compactCounts(t, env.CH, db); r >= rows {
			t.Fatalf("dropping a month left %d of %d compact rows: the interruption was not simulated", r, rows)
		}
		if err := migrate.Migrate(ctx, env.CH, db); err != nil {
			t.Fatalf("migrate after an interrupted copy: %v", err)
		}
		sameViews(t, "after an interrupted copy and a re-run", snapshot(t, env.CH, db, columnsOf(before)), before)
		if r, p := compactCounts(t, env.CH, db); r != rows || p != pairs {
			t.Errorf("after an interrupted copy and a re-run: %d rows, %d pairs; want %d, %d", r, p, rows, pairs)
		}
	}

	// Interrupted right after the rename: the compact table not created
	// yet. Run again: created and filled.
	db := env.Database + "_renamed"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v1Schema(t, env, db, true)
	fillV1(t, env.CH, db, true)
	before := snapshot(t, env.CH, db, nil)
	if err := env.CH.Exec(ctx, "RENAME TABLE "+db+".attributed_conversions TO "+db+".attributed_conversions_v1"); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate after an interrupted rename: %v", err)
	}
	sameViews(t, "after an interrupted rename and a re-run", snapshot(t, env.CH, db, columnsOf(before)), before)
}

// Several instances migrating one v1 database at once all succeed and
// copy every row once into the compact table (copies made twice by racing
// instances are the same rows, which the views show once).
func TestConcurrentMigrationsOfV1Database(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	db := env.Database + "_v1"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v1Schema(t, env, db, true)
	fillV1(t, env.CH, db, true)
	before := snapshot(t, env.CH, db, nil)
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- migrate.Migrate(context.Background(), env.CH, db) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent migration: %v", err)
		}
	}
	sameViews(t, "after concurrent migrations", snapshot(t, env.CH, db, columnsOf(before)), before)
}
