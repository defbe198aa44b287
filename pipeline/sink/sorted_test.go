package sink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/attributor/attributor/attribution"
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
	env, ctx, s := loggedSink(t)

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

// Conversions and credited rows go out in their tables' order too:
// conversions by (user_key, ts_ms, event_id), attributed_conversions by
// (conversion_date, conversion_id). With one day's conversions, the
// credited rows' block is also in the order of its views' tables
// (conversion_versions by (conversion_id, conversion_date), credit_days by
// date): ClickHouse finds every block of both inserts sorted. At the code
// before, only credit_days' one-row block was.
func TestConversionsAndCreditsGoOutInTheTablesOrder(t *testing.T) {
	env, ctx, s := loggedSink(t)

	// Arrival order: by time, users and ids mixed, one day.
	rng := rand.New(rand.NewPCG(5, 6))
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	u := &flow.Unit{}
	cr := &u.Credits
	cr.Models = []string{"linear"}
	for i := range 300 {
		cv := schemas.Conversion{EventID: fmt.Sprintf("cv-%08x", rng.Uint32()), TimeMs: day + int64(i)*1000,
			ConversionType: "purchase", RevenueMicros: 1_000_000, Currency: "EUR"}
		if rng.IntN(4) == 0 {
			cv.AnonymousID = fmt.Sprintf("anon-%d", rng.IntN(50))
		} else {
			cv.UserID = fmt.Sprintf("user-%d", rng.IntN(80))
		}
		u.Convs = append(u.Convs, flow.ConvRow{CV: cv, Partition: int32(i % 4)})
		cr.Sets = append(cr.Sets, flow.CreditSet{ConversionID: cv.EventID, ConversionType: cv.ConversionType, UserKey: cv.Key(),
			Currency: "EUR", TimeMs: cv.TimeMs, Version: 1, Path: uint32(len(cr.Path)), PathLen: 2, Cells: uint32(len(cr.Cells)), CellsLen: 2})
		for p := range 2 {
			cr.Path = append(cr.Path, attribution.Touchpoint{ID: fmt.Sprintf("tp-%d-%d", i, p), TimeMs: cv.TimeMs - int64(2-p)*60_000, Channel: "email"})
			cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: .5, Revenue: 500_000, Position: uint32(p + 1)})
		}
	}
	a := &acks{}
	u.Acks = []flow.Ack{{To: a, Offset: 1}}
	if !s.Send(ctx, 0, 1, u) {
		t.Fatal("sink: send failed")
	}
	barrier := make(chan error, 1)
	s.In <- sink.Msg{Barrier: barrier}
	if err := <-barrier; err != nil {
		t.Fatalf("sink barrier: %v", err)
	}
	if n := env.Count("conversions"); n != 300 {
		t.Fatalf("conversions stored: %d, want 300", n)
	}
	if n := env.Count("attributed_conversions"); n != 300 {
		t.Fatalf("credited rows stored: %d, want 300", n)
	}
	if err := env.CH.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		table  string
		sorted uint64
		what   string
	}{
		{"conversions", 1, "conversions"},
		{"attributed_conversions", 3, "attributed_conversions, conversion_versions, credit_days"},
	} {
		var inserts, sorted uint64
		q := `SELECT count(), sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'MergeTreeDataWriterBlocksAlreadySorted')])
FROM system.query_log WHERE type = 2 AND event_date >= yesterday() AND query LIKE 'INSERT INTO ` + env.Database + `.` + tc.table + ` %'`
		// The server logs a query as it finishes, which may be just after
		// the client had its answer: look again for a few seconds.
		for try := 0; ; try++ {
			if err := env.CH.QueryRow(ctx, q).Scan(&inserts, &sorted); err != nil {
				t.Fatal(err)
			}
			if inserts > 0 || try == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
			if err := env.CH.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
				t.Fatal(err)
			}
		}
		if inserts != 1 || sorted != tc.sorted {
			t.Errorf("%d inserts into %s found %d blocks already sorted; want 1 insert and %d (%s)", inserts, tc.table, sorted, tc.sorted, tc.what)
		}
	}
}

// loggedSink starts a sink on a migrated test database whose inserts are
// logged in system.query_log, where the tests read what ClickHouse found
// sorted; the sink stops (and must stop cleanly) when the test ends.
func loggedSink(t *testing.T) (*pipelinetest.Env, context.Context, *sink.Sink) {
	t.Helper()
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := migrate.Migrate(ctx, env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	s := sink.New(env.CH, &deadWriter{}, sink.Config{Database: env.Database, FlushInterval: 20 * time.Millisecond}.WithDefaults(), &flow.Stats{})
	runCtx, stop := context.WithCancel(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1})))
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	})
	return env, ctx, s
}
