package report

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/rollup"
)

// The views, reports and dashboards give the same answers with every day
// rolled up (pipeline/rollup) as when they aggregate the credited rows
// live, and so after a second, forced run over the whole range; on current
// ClickHouse too (chDB, with the rollup tables copied and the rollup's own
// SELECTs compared). It runs after TestViewsAfterMerges (file order), as
// the fixture is rolled up from here on.
func TestViewsAfterRollup(t *testing.T) {
	f := loadedFixture(t)
	checks := map[string]func(*testing.T, *fixture){
		"channel_performance": checkChannelPerformance, "channel_performance_feed_only": checkChannelPerformanceFeedOnly,
		"model_comparison": checkModelComparison, "assisted_conversions": checkAssistedConversions,
		"time_to_conversion": checkTimeToConversion, "path_length": checkPathLength, "top_paths": checkTopPaths, "cohort_value": checkCohortValue,
	}
	// The redo covers every day with a touchpoint or a conversion.
	var first, last string
	if err := f.conn.QueryRow(context.Background(), "SELECT toString(least(a, b)), toString(greatest(c, d)) FROM (SELECT min(conversion_date) AS a, max(conversion_date) AS c FROM "+f.db+".attributed_conversions) CROSS JOIN (SELECT min(event_date) AS b, max(event_date) AS d FROM "+f.db+".touchpoints)").Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	from, err1 := time.Parse(time.DateOnly, first)
	to, err2 := time.Parse(time.DateOnly, last)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for _, stage := range []struct {
		name string
		opt  rollup.Options
	}{
		{"rolled_up", rollup.Options{Database: f.db, Quiet: -1}},
		{"redone", rollup.Options{Database: f.db, RedoFrom: from, RedoTo: to}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := rollup.Run(ctx, f.conn, stage.opt)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", stage.name, err)
		}
		if res.CreditDays == 0 || res.TouchpointDays == 0 {
			t.Fatalf("%s: rolled up %d credit days and %d touchpoint days: nothing to test", stage.name, res.CreditDays, res.TouchpointDays)
		}
		var live uint64
		if err := f.conn.QueryRow(context.Background(), "SELECT count() FROM (SELECT conversion_date FROM "+f.db+".attributed_conversions WHERE conversion_date NOT IN (SELECT date FROM "+f.db+".rollup_valid_days WHERE kind = 'credits') GROUP BY conversion_date)").Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != 0 {
			t.Fatalf("%s: %d days of credits still read live", stage.name, live)
		}
		for name, check := range checks {
			t.Run(stage.name+"/"+name, func(t *testing.T) { check(t, f) })
		}
	}
	t.Run("column_by_column", func(t *testing.T) {
		checkColumnByColumn(t, f, []string{"channel_performance", "model_comparison", "credited_daily", "channel_credits_daily", "reach_daily"})
	})
	t.Run("current_clickhouse", func(t *testing.T) {
		var days []time.Time
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			days = append(days, d)
		}
		extra := map[string]string{}
		for table, sql := range rollup.Selects("zz_database_zz", days) {
			extra["rollup select "+table] = strings.ReplaceAll(sql, "zz_database_zz", "{db}")
		}
		checkCurrentClickHouse(t, f, []string{"rollup_marks", "rollup_runs", "credit_rollup", "channel_rollup", "reach_rollup"}, extra)
	})
}
