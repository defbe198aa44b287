package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/rollup"
)

// v4Schema makes db a database of schema version 4: this release's DDL
// without touchpoints_by_day (and its materialized view), reach_daily as
// version 4 made it (testdata/v4/reach_daily.sql: its live days read
// touchpoints FINAL), and version 4 recorded.
func v4Schema(t *testing.T, env *pipelinetest.Env, db string) {
	t.Helper()
	ctx := t.Context()
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		"DROP TABLE " + db + ".touchpoints_by_day_mv",
		"DROP TABLE " + db + ".touchpoints_by_day",
	}
	stmts = append(stmts, fixtureDDL(t, db, "testdata/v4/reach_daily.sql")...)
	execAll(t, env, append(stmts, recordedAs(db, 4)...)...)
}

// fillTouchpoints writes n touchpoints into db's touchpoints as the sink
// writes them, over about three months (October to December 2026), every
// 4th written twice (a replay: the copies collapse under FINAL), every
// 9th too late (stored and counted, never part of a path). first numbers
// them (e<first+i>); from e1000 on they fall on later days.
func fillTouchpoints(t *testing.T, env *pipelinetest.Env, db string, first, n int) {
	t.Helper()
	batch, err := env.CH.PrepareBatch(t.Context(), "INSERT INTO "+db+".touchpoints (event_id, user_key, user_id, anonymous_id, ts_ms, event_date, interaction, channel, source, medium, campaign, cost, session_start_ms, kafka_partition, too_late)")
	if err != nil {
		t.Fatal(err)
	}
	channels := []string{"email", "paid_search", "direct", "paid_social", "organic_search"}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	add := func(i int) {
		ts := start + int64(i%400+i/1000*400)*5*3600*1000 + int64(i) // i < 1000: about 83 days
		interaction := "click"
		if i%3 == 0 {
			interaction = "impression"
		}
		user := fmt.Sprintf("u%d", i%41)
		day := time.UnixMilli(ts).UTC().Truncate(24 * time.Hour)
		if err := batch.Append(fmt.Sprintf("e%d", i), user, user, "", ts, day, interaction, channels[i%len(channels)],
			"src", "m", fmt.Sprint("camp", i%3), float64(i%7)*0.125, ts, int32(i%4), uint8(min(1, i%9/8))); err != nil {
			t.Fatal(err)
		}
	}
	for i := first; i < first+n; i++ {
		add(i)
		if i%4 == 0 {
			add(i)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

// A database written by the previous release (schema version 4, no
// touchpoints_by_day) is migrated to version 5 without losing a
// touchpoint: touchpoints_by_day holds every stored touchpoint (replayed
// copies collapsing as in touchpoints), every analyst view shows the
// same rows after as before (its days read live, then rolled up), a
// second Migrate changes nothing, an interrupted copy completes when run
// again, and a touchpoint written after the migration reaches the new
// table through its materialized view.
func TestMigrateV4CopiesTouchpointsByDay(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	db := env.Database + "_v4"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v4Schema(t, env, db)
	fillCompact(t, env, db, 0, 300)
	fillTouchpoints(t, env, db, 0, 900)
	before := snapshot(t, env.CH, db, nil)
	reach := "SELECT toString(date), channel, campaign, impressions, clicks, users_reached, cost_micros FROM " + db + ".reach_daily"
	wantReach := viewRows(t, env.CH, reach)
	truth := "SELECT toString(event_date), channel, campaign, toUInt64(countIf(interaction = 'impression')), toUInt64(countIf(interaction = 'click')), toUInt64(uniqExact(user_key)), toInt64(sum(toInt64(floor(cost * 1000000 + 0.5)))) FROM " + db + ".touchpoints FINAL GROUP BY event_date, channel, campaign"
	if got := viewRows(t, env.CH, truth); strings.Join(got, "\n") != strings.Join(wantReach, "\n") || len(got) < 100 {
		t.Fatalf("the v4 reach_daily shows %d rows, touchpoints FINAL %d: the fill is not what version 4 showed", len(wantReach), len(got))
	}
	var stored, distinct uint64
	if err := env.CH.QueryRow(ctx, "SELECT count(), (SELECT count() FROM "+db+".touchpoints FINAL) FROM "+db+".touchpoints").Scan(&stored, &distinct); err != nil {
		t.Fatal(err)
	}
	if stored == distinct {
		t.Fatalf("the fill has no replayed copy (%d rows): the deduplication is not exercised", stored)
	}

	check := func(when string) {
		t.Helper()
		sameViews(t, when, snapshot(t, env.CH, db, columnsOf(before)), before)
		if got := viewRows(t, env.CH, reach); strings.Join(got, "\n") != strings.Join(wantReach, "\n") {
			t.Errorf("%s: reach_daily has %d rows, want the %d of version 4", when, len(got), len(wantReach))
		}
		// Every distinct touchpoint, with the columns reach needs, and no other.
		cols := "toString(event_date), user_key, ts_ms, %s, interaction, channel, campaign, cost"
		got := viewRows(t, env.CH, "SELECT "+fmt.Sprintf(cols, "event_hash")+" FROM "+db+".touchpoints_by_day FINAL")
		want := viewRows(t, env.CH, "SELECT "+fmt.Sprintf(cols, "sipHash64(event_id)")+" FROM "+db+".touchpoints FINAL")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: touchpoints_by_day FINAL holds %d rows, want touchpoints FINAL's %d", when, len(got), len(want))
		}
	}
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	check("after the migration")
	var key string
	if err := env.CH.QueryRow(ctx, "SELECT sorting_key FROM system.tables WHERE database = ? AND name = 'touchpoints_by_day'", db).Scan(&key); err != nil || key != "event_date, user_key, ts_ms, event_hash" {
		t.Errorf("touchpoints_by_day is sorted by %q (%v), want event_date, user_key, ts_ms, event_hash", key, err)
	}
	var copied uint64
	if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+db+".touchpoints_by_day").Scan(&copied); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	check("after a second migration")
	var again uint64
	if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+db+".touchpoints_by_day").Scan(&again); err != nil || again != copied {
		t.Errorf("a second migration of a version 5 database: touchpoints_by_day holds %d rows (%v), want the %d of the first (nothing copied again)", again, err, copied)
	}

	// Interrupted in the copy: a month missing, version 4 still recorded.
	exec := func(q string) {
		t.Helper()
		if err := env.CH.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	exec("ALTER TABLE " + db + ".touchpoints_by_day DROP PARTITION 202611")
	exec("TRUNCATE TABLE " + db + ".schema_versions")
	exec("INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 4, 'attributor v4'")
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatalf("migrate after an interrupted copy: %v", err)
	}
	check("after an interrupted copy and a re-run")

	// Every day rolled up: the rollup reads touchpoints_by_day, and the
	// views show the same rows from the rollups.
	res, err := rollup.Run(ctx, env.CH, rollup.Options{Database: db, Quiet: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.TouchpointDays < 80 {
		t.Fatalf("the rollup rolled up %d days of touchpoints, want the ~83 stored", res.TouchpointDays)
	}
	check("with every day rolled up")

	// A touchpoint written since, on a day never written before, reaches
	// touchpoints_by_day and the reach the views show.
	fillTouchpoints(t, env, db, 1999, 1)
	var n uint64
	if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+db+".touchpoints_by_day WHERE event_hash = sipHash64('e1999')").Scan(&n); err != nil || n != 1 {
		t.Errorf("a touchpoint written after the migration is in touchpoints_by_day %d times (%v), want once", n, err)
	}
	wantReach = viewRows(t, env.CH, truth)
	if got := viewRows(t, env.CH, reach); strings.Join(got, "\n") != strings.Join(wantReach, "\n") {
		t.Errorf("after a touchpoint written since: reach_daily has %d rows, touchpoints FINAL gives %d", len(got), len(wantReach))
	}
}
