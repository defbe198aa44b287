package sink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/schemas"
)

// The sink sends a batch's touchpoints in touchpoints' sorting key order,
// so ClickHouse writes the parts of touchpoints and of its materialized
// views (touchpoints_by_day, touchpoint_days) without sorting them: the
// server counts every block it found sorted
// (MergeTreeDataWriterBlocksAlreadySorted, per insert in query_log). At
// the code before, only touchpoint_days' one-row block was.
func TestTouchpointsGoOutInTheTablesOrder(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := migrate.Migrate(ctx, env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	s := sink.New(env.CH, &deadWriter{}, sink.Config{Database: env.Database, FlushInterval: 20 * time.Millisecond}.WithDefaults(), &flow.Stats{})
	runCtx, stop := context.WithCancel(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1})))
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	}()

	// Arrival order: by time, users mixed, one day.
	rng := rand.New(rand.NewPCG(3, 4))
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	var tps []flow.TPRow
	for i := range 500 {
		tp := schemas.Touchpoint{EventID: fmt.Sprintf("tp-%03d", rng.IntN(1000)), TimeMs: day + int64(i)*1000, Interaction: "click", Channel: "email"}
		if rng.IntN(4) == 0 {
			tp.AnonymousID = fmt.Sprintf("anon-%d", rng.IntN(50))
		} else {
			tp.UserID = fmt.Sprintf("user-%d", rng.IntN(80))
		}
		tps = append(tps, flow.TPRow{TP: tp, Partition: int32(i % 4)})
	}
	a := &acks{}
	if !s.Send(ctx, 0, 1, &flow.Unit{TPs: tps, Acks: []flow.Ack{{To: a, Offset: 1}}}) {
		t.Fatal("sink: send failed")
	}
	barrier := make(chan error, 1)
	s.In <- sink.Msg{Barrier: barrier}
	if err := <-barrier; err != nil {
		t.Fatalf("sink barrier: %v", err)
	}
	if n := env.Count("touchpoints"); n != 500 {
		t.Fatalf("touchpoints stored: %d, want 500", n)
	}
	if err := env.CH.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	var inserts, sorted uint64
	q := `SELECT count(), sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'MergeTreeDataWriterBlocksAlreadySorted')])
FROM system.query_log WHERE type = 2 AND event_date >= yesterday() AND query LIKE 'INSERT INTO ` + env.Database + `.touchpoints %'`
	if err := env.CH.QueryRow(ctx, q).Scan(&inserts, &sorted); err != nil {
		t.Fatal(err)
	}
	if inserts != 1 || sorted != 3 {
		t.Errorf("%d inserts into touchpoints found %d blocks already sorted; want 1 insert and 3 (touchpoints, touchpoints_by_day, touchpoint_days)", inserts, sorted)
	}
}
