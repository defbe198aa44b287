package sink

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// insertLog is a fake ClickHouse that records every insert: the table
// and the ids of the units' rows, and how many acks had fired then.
type insertLog struct {
	mu      sync.Mutex
	inserts []loggedInsert
	acker   *recordingAcker
}

type loggedInsert struct {
	table string
	ids   []string
	acked int
}

func (l *insertLog) insert(_ context.Context, table string, units []*flow.Unit, _ *insertColumns) error {
	var ids []string // the credited sets' conversions, or the touchpoints
	for _, u := range units {
		if table == tableCredited {
			for _, s := range u.Credits.Sets {
				ids = append(ids, s.ConversionID)
			}
			continue
		}
		for _, r := range u.TPs {
			ids = append(ids, r.TP.EventID)
		}
	}
	l.acker.mu.Lock()
	acked := len(l.acker.done)
	l.acker.mu.Unlock()
	l.mu.Lock()
	l.inserts = append(l.inserts, loggedInsert{table, ids, acked})
	l.mu.Unlock()
	return nil
}

// of returns the inserts into table (with rows) so far.
func (l *insertLog) of(table string) []loggedInsert {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedInsert
	for _, in := range l.inserts {
		if in.table == table && len(in.ids) > 0 {
			out = append(out, in)
		}
	}
	return out
}

// waitFor polls until cond holds (or fails t after 20 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// rawUnit is a unit with one touchpoint and one credited conversion,
// acked at offset.
func rawUnit(acker *recordingAcker, n int64) *flow.Unit {
	id := string(rune('a' + n - 1))
	u := flow.GetUnit()
	u.TPs = append(u.TPs, flow.TPRow{TP: schemas.Touchpoint{EventID: "t" + id, UserID: "u", TimeMs: 1_780_000_000_000}})
	cr := &u.Credits
	cr.Models = []string{"linear"}
	cr.Sets = append(cr.Sets, flow.CreditSet{ConversionID: "c" + id, TimeMs: 1_780_000_000_000, Cells: 0, CellsLen: 1})
	cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: 1, Revenue: 5})
	u.Acks = append(u.Acks, flow.Ack{To: acker, Offset: n})
	return u
}

// Live, each batch's credited rows go out every flush interval, while its
// raw rows and marks wait for the raw flush interval and then go out
// together, one insert per table for several batches; the acks (offsets)
// and the shard's durable sequence wait for both. A barrier (shutdown,
// rebalance) writes what waits at once.
func TestRawRowsOfSeveralBatchesGoOutTogetherAfterTheirCredits(t *testing.T) {
	acker := &recordingAcker{}
	l := &insertLog{acker: acker}
	s := New(nil, &recordingWriter{}, Config{Database: "db", Shards: 1, FlushInterval: 10 * time.Millisecond, RawFlushInterval: time.Hour}.WithDefaults(), &flow.Stats{})
	s.insert = l.insert
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	for n := int64(1); n <= 3; n++ {
		if !s.Send(ctx, 0, uint64(n), rawUnit(acker, n)) {
			t.Fatal("send refused")
		}
		waitFor(t, "the credited insert of unit "+string(rune('0'+n)), func() bool { return len(l.of(tableCredited)) == int(n) })
	}
	if got := l.of(tableTouchpoints); len(got) != 0 {
		t.Errorf("touchpoints written with the credits: %v; want them held for the raw flush interval", got)
	}
	if got := l.of(tableMarks); len(got) != 0 {
		t.Errorf("marks written before the raw rows: %v", got)
	}
	if s.Acked(0) != 0 || len(acker.done) != 0 {
		t.Errorf("acked %v (shard durable up to %d) before the raw rows were written", acker.done, s.Acked(0))
	}

	barrier := make(chan error, 1)
	s.In <- Msg{Barrier: barrier}
	select {
	case err := <-barrier:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("barrier not reached: the raw rows wait for their interval (an hour) despite it")
	}
	tps, marks := l.of(tableTouchpoints), l.of(tableMarks)
	if len(tps) != 1 || !slices.Equal(tps[0].ids, []string{"ta", "tb", "tc"}) {
		t.Errorf("touchpoint inserts %v, want one of ta, tb, tc", tps)
	}
	if len(marks) != 1 {
		t.Errorf("marks inserts %v, want one for the three batches", marks)
	}
	l.mu.Lock()
	last := l.inserts[len(l.inserts)-1]
	l.mu.Unlock()
	if last.table != tableMarks || last.acked != 0 {
		t.Errorf("last insert %+v, want the marks, before any ack", last)
	}
	acker.mu.Lock()
	if !slices.Equal(acker.done, []int64{1, 2, 3}) {
		t.Errorf("acks %v, want [1 2 3]", acker.done)
	}
	acker.mu.Unlock()
	if got := s.Acked(0); got != 3 {
		t.Errorf("Acked(0) = %d, want 3", got)
	}
	cancel()
	<-done
}

// Without a barrier the raw rows go out once the first of them waited the
// raw flush interval; a batch filled while the input is behind (large
// already) writes its raw rows at once.
func TestRawRowsGoOutAfterTheirIntervalOrAtOnceWhenBehind(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"interval", Config{RawFlushInterval: 50 * time.Millisecond}},
		{"behind", Config{RawFlushInterval: time.Hour, Lag: func() int64 { return 1 << 40 }, BacklogFlushInterval: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acker := &recordingAcker{}
			l := &insertLog{acker: acker}
			cfg := tc.cfg
			cfg.Database, cfg.Shards, cfg.FlushInterval = "db", 1, 10*time.Millisecond
			s := New(nil, &recordingWriter{}, cfg.WithDefaults(), &flow.Stats{})
			s.insert = l.insert
			stop := runOneRawUnit(t, s, acker)
			if tps := l.of(tableTouchpoints); len(tps) != 1 {
				t.Errorf("touchpoint inserts %v, want 1", tps)
			}
			stop()
		})
	}
}

// When the context ends while the raw writer is stuck on ClickHouse and
// more batches wait to be handed to it, a barrier waiting for them ends
// (the batches are dropped unacknowledged) and Run returns.
func TestRawWriterStuckThenCancelledReleasesTheBarrier(t *testing.T) {
	acker := &recordingAcker{}
	l := &insertLog{acker: acker}
	s := New(nil, &recordingWriter{}, Config{Database: "db", Shards: 1, FlushInterval: 10 * time.Millisecond, RawFlushInterval: 10 * time.Millisecond}.WithDefaults(), &flow.Stats{})
	stuck := make(chan struct{}, 1)
	s.insert = func(ctx context.Context, table string, units []*flow.Unit, cols *insertColumns) error {
		if table == tableTouchpoints {
			select {
			case stuck <- struct{}{}:
			default:
			}
			<-ctx.Done() // ClickHouse never answers
			return ctx.Err()
		}
		return l.insert(ctx, table, units, cols)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	s.Send(ctx, 0, 1, rawUnit(acker, 1))
	<-stuck
	for n := int64(2); n <= 4; n++ {
		s.Send(ctx, 0, uint64(n), rawUnit(acker, n))
		waitFor(t, "a credited insert", func() bool { return len(l.of(tableCredited)) == int(n) || n == 4 })
	}
	barrier := make(chan error, 1)
	s.In <- Msg{Barrier: barrier}
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-barrier:
	case <-time.After(20 * time.Second):
		t.Fatal("the barrier still waits after the context ended")
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if len(acker.done) != 0 {
		t.Errorf("acks %v, want none: no raw row was written", acker.done)
	}
}

// A batch filled while the input is behind is written in one step, as
// every batch was before the two steps: its touchpoints go out beside its
// credits (the fake's credited insert waits for the touchpoints' insert
// to start), not after them.
func TestBehindBatchWritesEveryTableAtOnce(t *testing.T) {
	acker := &recordingAcker{}
	l := &insertLog{acker: acker}
	s := New(nil, &recordingWriter{}, Config{Database: "db", Shards: 1, FlushInterval: 10 * time.Millisecond, RawFlushInterval: time.Hour,
		Lag: func() int64 { return 1 << 40 }, BacklogFlushInterval: 20 * time.Millisecond}.WithDefaults(), &flow.Stats{})
	tpStarted := make(chan struct{})
	var once sync.Once
	s.insert = func(ctx context.Context, table string, units []*flow.Unit, cols *insertColumns) error {
		switch table {
		case tableTouchpoints:
			once.Do(func() { close(tpStarted) })
		case tableCredited:
			select {
			case <-tpStarted:
			case <-time.After(5 * time.Second):
				t.Error("the credited rows were written without the touchpoints beside them")
			}
		}
		return l.insert(ctx, table, units, cols)
	}
	runOneRawUnit(t, s, acker)()
}

// runOneRawUnit runs s, sends it one unit with raw rows and waits until
// the unit is acknowledged; the function it returns stops s and waits for
// Run to return (the test's end does too).
func runOneRawUnit(t *testing.T, s *Sink, acker *recordingAcker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	if !s.Send(ctx, 0, 1, rawUnit(acker, 1)) {
		t.Fatal("send refused")
	}
	waitFor(t, "the ack", func() bool { return s.Acked(0) == 1 })
	return stop
}
