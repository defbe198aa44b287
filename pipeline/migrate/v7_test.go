package migrate_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/schemas"
)

// v6Schema makes db a database of schema version 6: this release's DDL
// with the day tables' materialized views as versions 3 to 6 made them
// (testdata/v6: every insert's days written again), and version 6
// recorded.
func v6Schema(t *testing.T, env *pipelinetest.Env, db string) {
	t.Helper()
	if err := migrate.Migrate(t.Context(), env.CH, db); err != nil {
		t.Fatal(err)
	}
	execAll(t, env, append(fixtureDDL(t, db, "testdata/v6/*.sql"), recordedAs(db, 6)...)...)
}

// Schema version 7 adds a day to credit_days and touchpoint_days only when
// an insert brings a day not recorded yet: a live insert (its days long
// recorded) makes no part in the day tables. A database filled at version
// 6 is migrated: the old views are gone, every view shows the rows it
// showed, re-inserted rows of stored days add no part to the day tables
// (at version 6 they added one per insert), and rows of a new day, written
// by hand as any other writer would, are recorded and shown.
func TestMigrateV6DayViewsAddOnlyNewDays(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	db := env.Database + "_v6"
	t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	v6Schema(t, env, db)
	fillCompact(t, env, db, 0, 300)
	fillRetracted(t, env, db, 0, 300)
	fillTouchpoints(t, env, db, 0, 900)
	fillSpend(t, env, db, 60)

	// blocks: the highest block number of the day tables (one per insert
	// that wrote a part) and of attributed_conversions.
	blocks := func() (credit, tp, credited uint64) {
		t.Helper()
		if err := env.CH.QueryRow(ctx, "SELECT toUInt64(maxIf(max_block_number, table = 'credit_days')), toUInt64(maxIf(max_block_number, table = 'touchpoint_days')), "+
			"toUInt64(maxIf(max_block_number, table = 'attributed_conversions')) FROM system.parts WHERE database = ? AND active", db).Scan(&credit, &tp, &credited); err != nil {
			t.Fatal(err)
		}
		return credit, tp, credited
	}
	// Rows of stored days again (replayed copies), as the sink writes
	// them live: one insert into each table.
	again := func() {
		t.Helper()
		fillCompact(t, env, db, 0, 40)
		fillTouchpoints(t, env, db, 0, 100)
	}
	c0, p0, a0 := blocks()
	again()
	if c1, p1, a1 := blocks(); a1 == a0 || c1 == c0 || p1 == p0 {
		t.Fatalf("at version 6 an insert of stored days made parts in credit_days %d -> %d, touchpoint_days %d -> %d (attributed_conversions %d -> %d): want one each, as version 6 wrote",
			c0, c1, p0, p1, a0, a1)
	}

	days := func(table string) []string {
		t.Helper()
		rows := viewRows(t, env.CH, "SELECT DISTINCT toString(date) FROM "+db+"."+table+" ORDER BY 1")
		for i := range rows {
			rows[i] = strings.TrimSpace(rows[i])
		}
		return rows
	}
	aggregates := func() map[string][]string {
		t.Helper()
		out := map[string][]string{}
		for _, v := range aggregateViews {
			out[v] = viewRows(t, env.CH, "SELECT * FROM "+db+"."+v)
		}
		return out
	}
	before := snapshot(t, env.CH, db, nil)
	beforeAgg := aggregates()
	creditDays, tpDays := days("credit_days"), days("touchpoint_days")
	if len(creditDays) < 80 || len(tpDays) < 80 {
		t.Fatalf("%d credit days and %d touchpoint days stored: the fill does not reach what the test needs", len(creditDays), len(tpDays))
	}

	for round := range 2 {
		if err := migrate.Migrate(ctx, env.CH, db); err != nil {
			t.Fatalf("migration %d: %v", round+1, err)
		}
		var version uint32
		if err := env.CH.QueryRow(ctx, "SELECT max(version) FROM "+db+".schema_versions").Scan(&version); err != nil || version != schemas.SchemaVersion {
			t.Fatalf("recorded version %d (%v), want %d", version, err, schemas.SchemaVersion)
		}
		views := viewRows(t, env.CH, "SELECT name FROM system.tables WHERE database = '"+db+"' AND engine = 'MaterializedView' AND name LIKE '%days%' ORDER BY name")
		for i := range views {
			views[i] = strings.TrimSpace(views[i])
		}
		if want := []string{"credit_new_days_mv", "touchpoint_new_days_mv"}; !slices.Equal(views, want) {
			t.Fatalf("after migration %d the materialized views are %v, want %v", round+1, views, want)
		}
		sameViews(t, "after the migration", snapshot(t, env.CH, db, columnsOf(before)), before)
		for v, rows := range aggregates() {
			if !slices.Equal(rows, beforeAgg[v]) {
				t.Errorf("after migration %d %s has %d rows, want the %d of version 6", round+1, v, len(rows), len(beforeAgg[v]))
			}
		}
		if got := days("credit_days"); !slices.Equal(got, creditDays) {
			t.Errorf("after migration %d credit_days holds %d days, want the %d of version 6", round+1, len(got), len(creditDays))
		}
		if got := days("touchpoint_days"); !slices.Equal(got, tpDays) {
			t.Errorf("after migration %d touchpoint_days holds %d days, want the %d of version 6", round+1, len(got), len(tpDays))
		}
	}

	// Stored days again: no part in the day tables.
	c0, p0, a0 = blocks()
	again()
	if c1, p1, a1 := blocks(); a1 == a0 || c1 != c0 || p1 != p0 {
		t.Errorf("an insert of stored days made parts in credit_days %d -> %d, touchpoint_days %d -> %d (attributed_conversions %d -> %d): want none in the day tables",
			c0, c1, p0, p1, a0, a1)
	}

	// A new day, written by hand: recorded, and shown live.
	execAll(t, env,
		"INSERT INTO "+db+".attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros) "+
			"SELECT 'hand1', 'purchase', 'u-hand', 'EUR', 1803859200000, toDate('2027-03-01'), 1, 7000000, 1, ['th1'], ['email'], ['news'], ['email'], [''], ['click'], [1803855600000], ['linear'], [''], [1], [7000000]",
		"INSERT INTO "+db+".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel, campaign, cost) "+
			"SELECT 'th1', 'u-hand', 1803855600000, toDate('2027-03-01'), 'click', 'email', '', 0.5")
	if got := days("credit_days"); len(got) != len(creditDays)+1 || got[len(got)-1] != "2027-03-01" {
		t.Errorf("credit_days after a new day's insert ends with %v (%d days), want 2027-03-01 added to the %d", got[max(0, len(got)-2):], len(got), len(creditDays))
	}
	if got := days("touchpoint_days"); len(got) != len(tpDays)+1 || got[len(got)-1] != "2027-03-01" {
		t.Errorf("touchpoint_days after a new day's insert ends with %v (%d days), want 2027-03-01 added to the %d", got[max(0, len(got)-2):], len(got), len(tpDays))
	}
	var micros int64
	var clicks uint64
	if err := env.CH.QueryRow(ctx, "SELECT toInt64(sum(revenue_micros)) FROM "+db+".credited_daily WHERE date = '2027-03-01' AND model = 'linear'").Scan(&micros); err != nil || micros != 7_000_000 {
		t.Errorf("credited_daily shows %d micros on the new day (%v), want 7000000", micros, err)
	}
	if err := env.CH.QueryRow(ctx, "SELECT toUInt64(sum(clicks)) FROM "+db+".reach_daily WHERE date = '2027-03-01'").Scan(&clicks); err != nil || clicks != 1 {
		t.Errorf("reach_daily shows %d clicks on the new day (%v), want 1", clicks, err)
	}
}
