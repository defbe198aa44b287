package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A running attributor rolls up the days it wrote every RollupEvery, once
// they went RollupQuiet without a write: every day of credits ends up read
// from the rollups, model_comparison then sums to the credited rows, and
// the credits themselves still equal replay.
func TestRunnerRollsUpQuietDays(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 131, Users: 150})
	env.ProduceEvents(ev)
	cfg := env.Config()
	cfg.RollupEvery = 300 * time.Millisecond
	cfg.RollupQuiet = -1
	r := pipelinetest.StartRunner(t, cfg)
	r.WaitSnapshot(time.Minute, "every event consumed", func(s pipeline.Snapshot) bool {
		return pipelinetest.Consumed(s) == int64(ev.Len())
	})
	ctx := context.Background()
	q := func(sql string) uint64 {
		var n uint64
		if err := env.CH.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	db := env.Database
	deadline := time.Now().Add(time.Minute)
	for {
		days := q("SELECT count() FROM (SELECT conversion_date FROM " + db + ".attributed_conversions GROUP BY conversion_date)")
		valid := q("SELECT count() FROM " + db + ".rollup_valid_days WHERE kind = 'credits' AND date IN (SELECT conversion_date FROM " + db + ".attributed_conversions)")
		if days > 0 && valid == days && r.Snapshot().Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, %d of %d days of credits rolled up (pending conversions: %d)", valid, days, r.Snapshot().Pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	var got, want int64
	if err := env.CH.QueryRow(ctx, "SELECT toInt64(round(sum(linear_revenue) * 1000000)) FROM "+db+".model_comparison").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if err := env.CH.QueryRow(ctx, "SELECT toInt64(sum(revenue_micros)) FROM "+db+".credited_conversions WHERE model = 'linear'").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got != want || want == 0 {
		t.Errorf("model_comparison from the rollups: linear revenue %d micros, credited_conversions %d", got, want)
	}
	equalReplay(t, env, ev)
}
