package sink

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/schemas"
)

// A batch's rollup marks (the days it wrote, per kind) are written after
// its rows and before its acks: a rolled-up day is never left valid with
// rows the rollup did not read, and a failed marks insert is retried
// while the batch's offsets wait, like a failed row insert.
func TestMarksAfterRowsBeforeAcks(t *testing.T) {
	var mu sync.Mutex
	var order []string
	var marked []markKey
	marksDown := 2
	acker := &recordingAcker{}
	s := New(nil, &recordingWriter{}, Config{Database: "db", Shards: 1, FlushInterval: 10 * time.Millisecond}.WithDefaults(), &flow.Stats{})
	s.insert = func(_ context.Context, table string, units []*flow.Unit, _ *insertColumns) error {
		mu.Lock()
		defer mu.Unlock()
		if table != tableMarks {
			order = append(order, table)
			return nil
		}
		acker.mu.Lock()
		acked := len(acker.done)
		acker.mu.Unlock()
		if acked != 0 {
			t.Error("acks fired before the marks were written")
		}
		if marksDown > 0 {
			marksDown--
			return &TableError{Table: table, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
		}
		order = append(order, table)
		marked = markDays(units)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	day := func(s string) int64 { d, _ := time.Parse(time.DateOnly, s); return d.UnixMilli() + 3_600_000 }
	u := flow.GetUnit()
	u.TPs = append(u.TPs, flow.TPRow{TP: schemas.Touchpoint{EventID: "t1", UserID: "u", TimeMs: day("2026-08-30")}},
		flow.TPRow{TP: schemas.Touchpoint{EventID: "t2", UserID: "u", TimeMs: day("2026-08-31")}})
	cr := &u.Credits
	cr.Models = []string{"linear"}
	cr.Sets = append(cr.Sets,
		flow.CreditSet{ConversionID: "c1", TimeMs: day("2026-08-31"), Cells: 0, CellsLen: 1},
		flow.CreditSet{ConversionID: "c2", TimeMs: day("2026-09-01"), Cells: 1, CellsLen: 1},
		flow.CreditSet{ConversionID: "c3", TimeMs: day("2026-09-05")}, // every model skipped: nothing stored
		// c4 left 2026-09-03 for an earlier day: its retraction (no
		// cells, stored under the start of the day it left) marks that
		// day, where the rows it replaces counted, or a rollup of
		// 2026-09-03 would go on counting c4 there.
		flow.CreditSet{ConversionID: "c4", TimeMs: day("2026-09-03") - 3_600_000, Version: flow.RetractVersion, Retract: true})
	cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: 1, Revenue: 5}, flow.CreditCell{Fraction: 1, Revenue: 7})
	u.Acks = append(u.Acks, flow.Ack{To: acker, Offset: 9})
	sendDurable(ctx, t, s, u, 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if i := slices.Index(order, tableMarks); i != len(order)-1 || len(order) != len(tables)+1 {
		t.Errorf("inserts in order %v, want every table, then %s", order, tableMarks)
	}
	want := []markKey{
		{rollup.KindCredits, dayOf(day("2026-08-31"))}, {rollup.KindCredits, dayOf(day("2026-09-01"))},
		{rollup.KindCredits, dayOf(day("2026-09-03"))},
		{rollup.KindTouchpoints, dayOf(day("2026-08-30"))}, {rollup.KindTouchpoints, dayOf(day("2026-08-31"))},
	}
	if !slices.Equal(marked, want) {
		t.Errorf("marks %v, want %v", marked, want)
	}
	if marksDown != 0 {
		t.Errorf("failed marks inserts left: %d, want both retried", marksDown)
	}
	acker.mu.Lock()
	if len(acker.done) != 1 {
		t.Errorf("acks %v, want [9]", acker.done)
	}
	acker.mu.Unlock()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
}
