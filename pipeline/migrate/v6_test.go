package migrate_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/schemas"
)

// v5Schema makes db a database of schema version 5: this release's DDL
// with the views as version 5 made them (testdata/v5: credited_live, one
// FINAL read of the days read live; channel_performance), and version 5
// recorded.
func v5Schema(t *testing.T, env *pipelinetest.Env, db string) {
	t.Helper()
	ctx := t.Context()
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatal(err)
	}
	execAll(t, env, append(fixtureDDL(t, db, "testdata/v5/*.sql"), recordedAs(db, 5)...)...)
}

// fillRetracted writes, for every 4th conversion of fillCompact's
// c<first>..c<first+n-1>, what the sink leaves under a day the conversion
// left: a credited version under the next day (a copy stamped later was
// the conversion first), then its retraction there (no models, version
// 4294967295), which replaces it. The conversion's current rows stay under
// its own day (fillCompact).
func fillRetracted(t *testing.T, env *pipelinetest.Env, db string, first, n int) {
	t.Helper()
	batch, err := env.CH.PrepareBatch(t.Context(), "INSERT INTO "+db+".attributed_conversions ("+schemas.CompactColumns+")")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := first; i < first+n; i++ {
		if i%4 != 1 {
			continue
		}
		id := fmt.Sprintf("c%03d", i)
		later := start + int64(i%300)*7*3600*1000 + 24*3600*1000
		left := schemas.CompactRow{
			ConversionID: id, ConversionType: "purchase", UserKey: "u-" + id, Currency: "EUR", ConversionTimeMs: later,
			Version: 3, RevenueMicros: 5_000_000,
			TouchpointIDs: []string{"x-" + id}, Channels: []string{"email"}, Sources: []string{"src9"}, Mediums: []string{"m"},
			Campaigns: []string{"camp9"}, Interactions: []string{"click"}, TouchpointTimesMs: []int64{later - 3600*1000},
			Models: []string{"last_click", "linear", "position_based"}, FitIDs: []string{"", "", "fit-7"},
			Fractions: []float64{1, 1, 1}, Micros: []int64{5_000_000, 5_000_000, 5_000_000},
		}
		retraction := schemas.CompactRow{
			ConversionID: id, ConversionType: "purchase", UserKey: "u-" + id, Currency: "EUR", ConversionTimeMs: later,
			Version:       math.MaxUint32,
			TouchpointIDs: []string{}, Channels: []string{}, Sources: []string{}, Mediums: []string{}, Campaigns: []string{},
			Interactions: []string{}, TouchpointTimesMs: []int64{}, Models: []string{}, FitIDs: []string{},
			Fractions: []float64{}, Micros: []int64{},
		}
		for _, r := range []*schemas.CompactRow{&left, &retraction} {
			if err := batch.Append(r.Values()...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

// fillSpend writes n rows of ad_spend (the feed that channel_performance
// prefers to the touchpoints' cost) over October and November 2026.
func fillSpend(t *testing.T, env *pipelinetest.Env, db string, n int) {
	t.Helper()
	q := fmt.Sprintf("INSERT INTO %s.ad_spend (event_id, date, channel, source, medium, campaign, cost_micros, currency, origin) "+
		"SELECT concat('s', toString(k)), toDate('2026-10-02') + k %% 50, ['email', 'paid_search', 'direct'][k %% 3 + 1], 'src', 'm', "+
		"concat('camp', toString(k %% 3)), toInt64(1000000 + 1237 * k), 'EUR', 'test' FROM (SELECT arrayJoin(range(%d)) AS k)", db, n)
	if err := env.CH.Exec(t.Context(), q); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
}

// aggregateViews are the views over the rollups, compared beside the
// analyst views.
var aggregateViews = []string{"credited_daily", "channel_credits_daily", "reach_daily", "model_comparison", "channel_performance"}

// Schema version 6 reads the days read live in two halves of the
// conversions (credited_live) and repeats the reach and spend rows under
// the models once (channel_performance). Two databases filled alike at
// version 5, with re-attributed conversions (superseded versions),
// replayed copies and retracted ones (a credited version and its
// retraction under a day the conversion left), ad spend and touchpoints:
// one stays at version 5, the other is migrated to 6, and every view
// shows the same rows in both (sums of credit to nine digits): every day
// live, every day rolled up, and some days live again (the retractions'
// among them). The migration copies nothing: touchpoints_by_day keeps its
// rows.
func TestMigrateV5ViewsEqualAfter(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	old, cur := env.Database+"_v5", env.Database+"_v6"
	t.Cleanup(func() {
		env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+old)
		env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cur)
	})
	for _, db := range []string{old, cur} {
		v5Schema(t, env, db)
		fillCompact(t, env, db, 0, 300)
		fillRetracted(t, env, db, 0, 300)
		fillTouchpoints(t, env, db, 0, 900)
		fillSpend(t, env, db, 60)
	}
	var retracted, superseded, low, high uint64
	if err := env.CH.QueryRow(ctx, "SELECT countIf(empty(models) AND version = 4294967295), toUInt64(count() - uniqExact(conversion_id, conversion_date)), "+
		"uniqExactIf(conversion_id, cityHash64(conversion_id) < 9223372036854775808), uniqExactIf(conversion_id, cityHash64(conversion_id) >= 9223372036854775808) FROM "+old+".attributed_conversions").
		Scan(&retracted, &superseded, &low, &high); err != nil {
		t.Fatal(err)
	}
	if retracted < 50 || superseded < 100 || low < 50 || high < 50 {
		t.Fatalf("the fill has %d retractions, %d superseded or replayed rows, %d and %d conversions in the two halves: not what the test needs", retracted, superseded, low, high)
	}
	byDay := func() uint64 {
		t.Helper()
		var n uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+cur+".touchpoints_by_day").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	stored := byDay()
	if err := migrate.Migrate(ctx, env.CH, cur); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// Version 5's materialized view filled touchpoints_by_day: the
	// migration copies no touchpoint into it again.
	if n := byDay(); n != stored {
		t.Errorf("touchpoints_by_day holds %d rows after the migration, want the %d of version 5 (touchpoints copied again)", n, stored)
	}
	var version uint32
	if err := env.CH.QueryRow(ctx, "SELECT max(version) FROM "+cur+".schema_versions").Scan(&version); err != nil || version != schemas.SchemaVersion {
		t.Fatalf("recorded version %d (%v), want %d", version, err, schemas.SchemaVersion)
	}

	compare := func(when string) {
		t.Helper()
		sameViews(t, when, snapshot(t, env.CH, cur, nil), snapshot(t, env.CH, old, nil))
		for _, v := range aggregateViews {
			got := viewRows(t, env.CH, "SELECT * FROM "+cur+"."+v)
			want := viewRows(t, env.CH, "SELECT * FROM "+old+"."+v)
			if len(want) < 50 {
				t.Fatalf("%s: %s shows %d rows at version 5: the fill does not reach it", when, v, len(want))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s has %d rows, want the %d of version 5", when, v, len(got), len(want))
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Errorf("first difference at row %d:\n got %s\nwant %s", i, got[i], want[i])
						break
					}
				}
			}
		}
	}
	liveDays := func(db string) uint64 {
		t.Helper()
		var n uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+db+".credit_days WHERE date NOT IN (SELECT date FROM "+db+".rollup_valid_days WHERE kind = 'credits')").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := liveDays(cur); n < 80 {
		t.Fatalf("%d days read live before any rollup, want the ~88 stored", n)
	}
	compare("every day live")

	for _, db := range []string{old, cur} {
		if _, err := rollup.Run(ctx, env.CH, rollup.Options{Database: db, Quiet: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := liveDays(cur); n != 0 {
		t.Fatalf("%d days read live after the rollup, want none", n)
	}
	compare("every day rolled up")

	// Written into since: every third day's credits (retractions among
	// them) and a day of touchpoints read live again.
	for _, db := range []string{old, cur} {
		for _, q := range []string{
			"INSERT INTO " + db + ".rollup_marks (kind, date) SELECT 'credits', date FROM " + db + ".credit_days WHERE toDayOfMonth(date) % 3 = 0",
			"INSERT INTO " + db + ".rollup_marks (kind, date) SELECT 'touchpoints', toDate('2026-10-20')",
		} {
			if err := env.CH.Exec(ctx, q); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
		}
	}
	var liveRetracted uint64
	if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+cur+".attributed_conversions WHERE empty(models) AND conversion_date IN (SELECT date FROM "+cur+".credit_days WHERE date NOT IN (SELECT date FROM "+cur+".rollup_valid_days WHERE kind = 'credits'))").Scan(&liveRetracted); err != nil {
		t.Fatal(err)
	}
	if n := liveDays(cur); n < 20 || liveRetracted < 10 {
		t.Fatalf("%d days read live again with %d retractions, want about a third of the days and their retractions", n, liveRetracted)
	}
	compare("some days live again")

	if err := migrate.Migrate(ctx, env.CH, cur); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	compare("after a second migration")
}
