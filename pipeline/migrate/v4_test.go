package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

// v3Schema makes db a database of schema version 3: this release's DDL
// with attributed_conversions as version 3 created it
// (testdata/v3/004_attributed_conversions.sql, sorted by conversion_id
// alone), no conversion_versions, and version 3 recorded.
func v3Schema(t *testing.T, env *pipelinetest.Env, db string) {
	t.Helper()
	ctx := t.Context()
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		"DROP TABLE " + db + ".conversion_versions_mv",
		"DROP TABLE " + db + ".conversion_versions",
		"DROP TABLE " + db + ".attributed_conversions",
	}
	stmts = append(stmts, fixtureDDL(t, db, "testdata/v3/004_attributed_conversions.sql")...)
	execAll(t, env, append(stmts, recordedAs(db, 3)...)...)
	var key string
	if err := env.CH.QueryRow(ctx, "SELECT sorting_key FROM system.tables WHERE database = ? AND name = 'attributed_conversions'", db).Scan(&key); err != nil || key != "conversion_id" {
		t.Fatalf("the v3 table is sorted by %q (%v), want conversion_id", key, err)
	}
}

// A database of schema version 2 (the same compact table, no rollups)
// reaches version 4 in one migration: rebuilt, its days recorded for the
// rolled-up views, every view as before.
func TestMigrateV2ToV4(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	db := env.Database + "_v2"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v3Schema(t, env, db)
	fillCompact(t, env, db, 0, 300)
	before := snapshot(t, env.CH, db, nil) // version 2's views showed the same rows
	// Version 2: the same table, no day tables, version 2 recorded.
	for _, q := range []string{
		"DROP TABLE " + db + ".credit_new_days_mv", "DROP TABLE " + db + ".touchpoint_new_days_mv",
		"DROP TABLE " + db + ".credit_days", "DROP TABLE " + db + ".touchpoint_days",
		"TRUNCATE TABLE " + db + ".schema_versions",
		"INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 2, 'attributor v2'",
	} {
		if err := env.CH.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatal(err)
	}
	sameViews(t, "after migrating version 2", snapshot(t, env.CH, db, columnsOf(before)), before)
	var key string
	var days uint64
	if err := env.CH.QueryRow(ctx, "SELECT sorting_key FROM system.tables WHERE database = ? AND name = 'attributed_conversions'", db).Scan(&key); err != nil || key != "conversion_date, conversion_id" {
		t.Errorf("attributed_conversions is sorted by %q (%v), want conversion_date, conversion_id", key, err)
	}
	if err := env.CH.QueryRow(ctx, "SELECT toUInt64(uniqExact(date)) FROM "+db+".credit_days").Scan(&days); err != nil || days < 80 {
		t.Errorf("credit_days holds %d days (%v), want the ~87 stored", days, err)
	}
}

// fillCompact writes credited conversions into db's attributed_conversions
// as the sink writes them (schemas.CompactColumns, one row per conversion
// and version): 300 conversions over three months, paths of 0 to 5
// touchpoints, every 7th with a superseded earlier version, every 5th
// written twice (a replay). first numbers the conversions (c<first+i>).
func fillCompact(t *testing.T, env *pipelinetest.Env, db string, first, n int) {
	t.Helper()
	models := []string{"last_click", "linear", "position_based"}
	fitIDs := []string{"", "", "fit-7"}
	eng, err := attribution.NewEngine(attribution.Config{Models: models})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := env.CH.PrepareBatch(t.Context(), "INSERT INTO "+db+".attributed_conversions ("+schemas.CompactColumns+")")
	if err != nil {
		t.Fatal(err)
	}
	channels := []string{"email", "paid_search", "direct", "paid_social", "organic_search"}
	start := time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC).UnixMilli()
	var res attribution.Result
	var row schemas.CreditedRow
	write := func(cv *schemas.Conversion, tps []attribution.Touchpoint, version uint32) {
		eng.Attribute(attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros}, tps, attribution.NoReset, &res)
		var rows []schemas.CreditedRow
		if err := replay.CreditRows(&row, models, fitIDs, cv, "u-"+cv.EventID, &res, func(r *schemas.CreditedRow) error {
			rows = append(rows, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		compact, err := schemas.Compact(rows, version)
		if err != nil {
			t.Fatal(err)
		}
		for i := range compact {
			if err := batch.Append(compact[i].Values()...); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := first; i < first+n; i++ {
		cvMs := start + int64(i%300)*7*3600*1000 // about 87 days: three months
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

// versionsOf reads conversion_versions: per conversion its dates and its
// highest version, as text.
func versionsOf(t *testing.T, env *pipelinetest.Env, db string) []string {
	return viewRows(t, env.CH, "SELECT conversion_id, groupUniqArray(conversion_date), max(version) FROM "+db+".conversion_versions GROUP BY conversion_id")
}

// A database written by the previous release (schema version 3, the
// compact table sorted by conversion_id alone) is rebuilt by Migrate in
// the layout of version 4 without losing a row: every analyst view shows
// the same rows after as before, every stored (conversion, version) is
// copied, superseded ones too, conversion_versions holds every conversion
// with its latest version, and rows written after the migration reach the
// materialized views (conversion_versions, credit_days). A second Migrate
// changes nothing; an interrupted copy and an interrupted rename complete
// when run again; the v3 table is kept.
func TestMigrateRebuildsV3Database(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	db := env.Database + "_v3"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v3Schema(t, env, db)
	fillCompact(t, env, db, 0, 300)
	before := snapshot(t, env.CH, db, nil)
	wantVersions := viewRows(t, env.CH, "SELECT conversion_id, groupUniqArray(conversion_date), max(version) FROM "+db+".attributed_conversions GROUP BY conversion_id")
	v3Rows, v3Pairs := compactCounts(t, env.CH, db)
	if v3Rows == v3Pairs {
		t.Fatalf("the v3 fill has no replayed duplicate (%d rows, %d pairs): the copy's deduplication is not exercised", v3Rows, v3Pairs)
	}

	check := func(when string) {
		t.Helper()
		sameViews(t, when, snapshot(t, env.CH, db, columnsOf(before)), before)
		var key string
		if err := env.CH.QueryRow(ctx, "SELECT sorting_key FROM system.tables WHERE database = ? AND name = 'attributed_conversions'", db).Scan(&key); err != nil || key != "conversion_date, conversion_id" {
			t.Errorf("%s: attributed_conversions is sorted by %q (%v), want conversion_date, conversion_id", when, key, err)
		}
		if _, pairs := compactCounts(t, env.CH, db); pairs != v3Pairs {
			t.Errorf("%s: %d (conversion, version) pairs, want the v3 table's %d", when, pairs, v3Pairs)
		}
		if got := versionsOf(t, env, db); strings.Join(got, "\n") != strings.Join(wantVersions, "\n") {
			t.Errorf("%s: conversion_versions has %d conversions, want %d:\n%s", when, len(got), len(wantVersions), strings.Join(got[:min(3, len(got))], "\n"))
		}
		var kept uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+db+".attributed_conversions_v3").Scan(&kept); err != nil || kept != v3Rows {
			t.Errorf("%s: the v3 table keeps %d rows (%v), want %d", when, kept, err, v3Rows)
		}
	}
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	check("after the migration")
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	check("after a second migration")

	// Interrupted in the copy: a month missing, version 3 still recorded.
	exec := func(q string) {
		t.Helper()
		if err := env.CH.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	exec("ALTER TABLE " + db + ".attributed_conversions DROP PARTITION 202611")
	exec("TRUNCATE TABLE " + db + ".schema_versions")
	exec("INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 3, 'attributor v3'")
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate after an interrupted copy: %v", err)
	}
	check("after an interrupted copy and a re-run")

	// Rows written since reach the materialized views over the new table:
	// a conversion on a day never written before.
	fillCompact(t, env, db, 1000, 1)
	var days, versions uint64
	if err := env.CH.QueryRow(ctx, "SELECT toUInt64(countIf(date = '2026-10-03')), toUInt64(0) FROM "+db+".credit_days").Scan(&days, &versions); err != nil {
		t.Fatal(err)
	}
	if err := env.CH.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+db+".conversion_versions WHERE conversion_id = 'c1000'").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if days == 0 || versions == 0 {
		t.Errorf("a row written after the migration: credit_days has its day %d times, conversion_versions its conversion %d times; want both", days, versions)
	}
}

// Interrupted right after the rename (the v3 table aside, no table under
// the name yet) and with several migrations at once: each run completes
// the rebuild, every row copied once.
func TestMigrateV3AfterInterruptedRenameAndConcurrently(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	db := env.Database + "_v3r"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v3Schema(t, env, db)
	fillCompact(t, env, db, 0, 300)
	before := snapshot(t, env.CH, db, nil)
	_, pairs := compactCounts(t, env.CH, db)
	if err := env.CH.Exec(ctx, "RENAME TABLE "+db+".attributed_conversions TO "+db+".attributed_conversions_v3"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- migrate.Migrate(ctx, env.CH, db) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent migration: %v", err)
		}
	}
	sameViews(t, "after an interrupted rename and concurrent re-runs", snapshot(t, env.CH, db, columnsOf(before)), before)
	if _, p := compactCounts(t, env.CH, db); p != pairs {
		t.Errorf("%d (conversion, version) pairs, want %d", p, pairs)
	}
}
