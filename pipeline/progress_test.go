package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// "Credited" means durable: while ClickHouse refuses the rows (here: a
// materialized view in the test's own database feeds the credited rows to
// a URL table nobody listens on, a transient "connection refused" for
// every insert, so that the shared server keeps running; a missing table
// would stop the run, see TestDroppedTableStopsTheRun), conversions attributed in memory are not
// counted, in the snapshots or the progress lines made from them; the
// progress says writes are failing; once ClickHouse takes the rows again a
// "recovered" line is logged and the counts catch up.
func TestProgressCountsOnlyDurableRows(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	pair := func(user, tp, cv string) ([]pipelinetest.Msg, []pipelinetest.Msg) {
		return []pipelinetest.Msg{{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":"%s-tp","user_id":"%s","timestamp":"%s","channel":"email"}`, user, user, tp))}},
			[]pipelinetest.Msg{{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":"%s-cv","user_id":"%s","timestamp":"%s","revenue":10}`, user, user, cv))}}
	}
	var logs syncBuffer
	var mu sync.Mutex
	var progress []pipeline.Snapshot
	cfg := env.Config()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.AllowedLateness = 100 * time.Millisecond
	cfg.ProgressInterval = 50 * time.Millisecond
	cfg.Progress = func(s pipeline.Snapshot) { mu.Lock(); progress = append(progress, s); mu.Unlock() }

	tp, cv := pair("a1", "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z")
	env.Produce(env.Touchpoints, tp)
	env.Produce(env.Conversions, cv)
	r := pipelinetest.StartRunner(t, cfg)
	r.WaitSnapshot(time.Minute, "a1 credited", func(s pipeline.Snapshot) bool { return s.Attributed == 1 })
	rowsBefore := r.Snapshot().CreditedRows

	exec := func(q string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := env.CH.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE " + env.Database + ".unreachable (conversion_id String) ENGINE = URL('http://127.0.0.1:1/outage', TSV)")
	exec("CREATE MATERIALIZED VIEW " + env.Database + ".outage TO " + env.Database + ".unreachable AS SELECT conversion_id FROM " + env.Database + ".attributed_conversions")
	mu.Lock()
	outageFrom := len(progress)
	mu.Unlock()
	for i, u := range []string{"b1", "b2"} {
		tp, cv := pair(u, fmt.Sprintf("2026-11-27T11:0%d:00Z", i), fmt.Sprintf("2026-11-27T11:3%d:00Z", i))
		env.Produce(env.Touchpoints, tp)
		env.Produce(env.Conversions, cv)
	}
	r.WaitSnapshot(time.Minute, "b1 and b2 attributed in memory, their writes failing", func(s pipeline.Snapshot) bool {
		return s.Conversions == 3 && s.Pending == 0 && s.InsertErrors >= 2 && s.WritesFailingFor > 0
	})
	time.Sleep(500 * time.Millisecond)
	s := r.Snapshot()
	if s.Attributed != 1 || s.CreditedRows != rowsBefore {
		t.Errorf("while ClickHouse refuses the rows: %d conversions, %d rows credited; want 1 and %d (only what is durable)", s.Attributed, s.CreditedRows, rowsBefore)
	}
	mu.Lock()
	for _, p := range progress[outageFrom:] {
		if p.Attributed > 1 {
			t.Errorf("a progress snapshot during the outage says %d conversions credited, want at most 1", p.Attributed)
			break
		}
	}
	mu.Unlock()

	exec("DROP TABLE " + env.Database + ".outage")
	r.WaitSnapshot(time.Minute, "b1 and b2 credited after the outage", func(s pipeline.Snapshot) bool { return s.Attributed == 3 && s.WritesFailingFor == 0 })
	if out := logs.String(); !strings.Contains(out, "sink write failed; retrying") || !strings.Contains(out, "sink write recovered") {
		t.Errorf("log: want the failures and then a recovered line:\n%s", out)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := len(pipelinetest.Conversions(env.Credited())); got != 3 {
		t.Errorf("%d conversions in the view, want 3", got)
	}
}
