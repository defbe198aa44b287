package sink

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
)

// slowCredited is a fake ClickHouse whose first credited insert hangs
// until release is closed; it records the conversions of every credited
// insert when it starts.
type slowCredited struct {
	mu      sync.Mutex
	started []int
	release chan struct{}
}

func (f *slowCredited) insert(ctx context.Context, table string, units []*flow.Unit, _ *insertColumns) error {
	if table != tableCredited {
		return nil
	}
	n := 0
	for _, u := range units {
		n += len(u.Credits.Sets)
	}
	f.mu.Lock()
	f.started = append(f.started, n)
	first := len(f.started) == 1
	f.mu.Unlock()
	if first {
		select {
		case <-f.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *slowCredited) get() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started)
}

func slowSink(t *testing.T) (*Sink, *slowCredited) {
	t.Helper()
	f := &slowCredited{release: make(chan struct{})}
	s := New(nil, &recordingWriter{}, Config{Database: "db", Shards: 1, FlushRows: 1000, FlushInterval: 10 * time.Millisecond}.WithDefaults(), &flow.Stats{})
	s.insert = f.insert
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, f
}

// Live, while a batch's credited insert is in flight (ClickHouse slow),
// the batches due meanwhile wait for it and go out as one insert when it
// ends, instead of one insert per flush interval on the second writer
// beside it. Before, the units sent one per interval while the first
// insert hung were written one insert each (started [1 1 1 1 1 1]).
func TestSinkLiveBatchWaitsForSlowCreditedInsert(t *testing.T) {
	s, f := slowSink(t)
	s.holdMax = time.Hour // the wait's bound is TestSinkSlowInsertWaitIsBounded's
	ctx := context.Background()
	if !s.Send(ctx, 0, 1, creditUnit(0, 1)) {
		t.Fatal("send refused")
	}
	waitFor(t, "the first credited insert", func() bool { return len(f.get()) == 1 })
	for i := 2; i <= 6; i++ {
		if !s.Send(ctx, 0, uint64(i), creditUnit(10*i, 1)) {
			t.Fatal("send refused")
		}
		time.Sleep(15 * time.Millisecond) // more than a flush interval: each unit its own batch before
	}
	waitFor(t, "the sink to take every unit", func() bool { return len(s.In) == 0 })
	time.Sleep(30 * time.Millisecond)
	if got := f.get(); !slices.Equal(got, []int{1}) {
		t.Fatalf("credited inserts started while the first hung: %v, want only [1]", got)
	}
	close(f.release)
	waitFor(t, "every unit durable", func() bool { return s.Acked(0) == 6 })
	if got := f.get(); !slices.Equal(got, []int{1, 5}) {
		t.Errorf("conversions per credited insert %v, want [1 5]", got)
	}
}

// The wait is bounded: a batch due while an insert hangs goes out beside
// it once its first row is four flush intervals old, on the second writer,
// so rows are not held behind an insert that is slow for another reason
// than the CPU.
func TestSinkSlowInsertWaitIsBounded(t *testing.T) {
	s, f := slowSink(t)
	defer close(f.release)
	ctx := context.Background()
	if !s.Send(ctx, 0, 1, creditUnit(0, 1)) {
		t.Fatal("send refused")
	}
	waitFor(t, "the first credited insert", func() bool { return len(f.get()) == 1 })
	if !s.Send(ctx, 0, 2, creditUnit(10, 2)) {
		t.Fatal("send refused")
	}
	waitFor(t, "a second credited insert beside the hung one", func() bool { return len(f.get()) == 2 })
	if got := f.get(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("conversions per credited insert %v, want [1 2]", got)
	}
	if s.Acked(0) != 0 {
		t.Errorf("Acked(0) = %d while the first insert hangs, want 0 (acks follow batch order)", s.Acked(0))
	}
}
