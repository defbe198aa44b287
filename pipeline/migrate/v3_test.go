package migrate_test

import (
	"testing"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A database of schema version 2 (credits stored, no rollups) migrated to
// version 3 shows every stored day in the rolled-up views at once: the
// migration records the days stored before the day tables' materialized
// views existed, so the views aggregate them live; a second migration
// changes nothing.
func TestMigrateV2RecordsStoredDays(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := t.Context()
	db := env.Database
	if err := migrate.Migrate(ctx, env.CH, db); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if err := env.CH.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	// Rows as version 2 stored them: no day tables, version 2 recorded.
	for _, q := range []string{"credit_new_days_mv", "touchpoint_new_days_mv", "credit_days", "touchpoint_days"} {
		exec("DROP TABLE " + db + "." + q)
	}
	exec("INSERT INTO " + db + ".attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros) " +
		"SELECT 'c1', 'purchase', 'u1', 'EUR', 1788000000000, toDate('2026-08-29'), 3, 100000000, 2, ['t1', 't2'], ['email', 'paid_search'], ['news', 'google'], ['email', 'cpc'], ['', 'brand'], ['click', 'click'], [1787990000000, 1787995000000], ['last_click', 'linear'], ['', ''], [0, 0.5, 1, 0.5], [0, 50000000, 100000000, 50000000] " +
		"UNION ALL SELECT 'c2', 'purchase', 'u2', 'EUR', 1788300000000, toDate('2026-09-02'), 1, 5000000, 0, [], [], [], [], [], [], [], ['last_click', 'linear'], ['', ''], [1, 1], [5000000, 5000000]")
	exec("INSERT INTO " + db + ".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel, campaign, cost) " +
		"SELECT 't1', 'u1', 1787990000000, toDate('2026-08-29'), 'click', 'email', '', 0.25 UNION ALL SELECT 't2', 'u1', 1787995000000, toDate('2026-08-29'), 'click', 'paid_search', 'brand', 1.5")
	exec("DROP TABLE " + db + ".schema_versions")
	exec("CREATE TABLE " + db + ".schema_versions (version UInt32, written_by String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version")
	exec("INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 2, 'attributor v2'")

	for round := range 2 {
		if err := migrate.Migrate(ctx, env.CH, db); err != nil {
			t.Fatalf("migration %d: %v", round+1, err)
		}
		var days, tpDays uint64
		var micros, clicks int64
		if err := env.CH.QueryRow(ctx, "SELECT toUInt64(uniqExact(date)) FROM "+db+".credit_days").Scan(&days); err != nil {
			t.Fatal(err)
		}
		if err := env.CH.QueryRow(ctx, "SELECT toUInt64(uniqExact(date)) FROM "+db+".touchpoint_days").Scan(&tpDays); err != nil {
			t.Fatal(err)
		}
		if err := env.CH.QueryRow(ctx, "SELECT toInt64(sum(revenue_micros)) FROM "+db+".credited_daily WHERE model = 'linear'").Scan(&micros); err != nil {
			t.Fatal(err)
		}
		if err := env.CH.QueryRow(ctx, "SELECT toInt64(sum(clicks)) FROM "+db+".reach_daily").Scan(&clicks); err != nil {
			t.Fatal(err)
		}
		if days != 2 || tpDays != 1 || micros != 105_000_000 || clicks != 2 {
			t.Errorf("after migration %d: %d credit days, %d touchpoint days, linear revenue %d micros, %d clicks; want 2, 1, 105000000, 2", round+1, days, tpDays, micros, clicks)
		}
	}
}
