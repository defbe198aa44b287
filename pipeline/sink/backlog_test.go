package sink

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
)

// insertSizes is a fake ClickHouse that records the touchpoint rows of
// every insert.
type insertSizes struct {
	mu    sync.Mutex
	sizes []int
	at    []time.Time
}

func (f *insertSizes) insert(_ context.Context, table string, units []*flow.Unit, _ *insertColumns) error {
	if table != tableTouchpoints {
		return nil
	}
	n := 0
	for _, u := range units {
		n += len(u.TPs)
	}
	f.mu.Lock()
	f.sizes = append(f.sizes, n)
	f.at = append(f.at, time.Now())
	f.mu.Unlock()
	return nil
}

func (f *insertSizes) get() ([]int, []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sizes), slices.Clone(f.at)
}

// backlogSink runs a sink over insertSizes whose input is lag messages
// behind; live it writes every 10 rows or 10 ms, behind every 100 rows or
// wait.
func backlogSink(t *testing.T, lag *atomic.Int64, wait time.Duration) (*Sink, *insertSizes) {
	t.Helper()
	f := &insertSizes{}
	s := New(nil, &recordingWriter{}, Config{Database: "db", Shards: 1, FlushRows: 10, FlushInterval: 10 * time.Millisecond,
		BacklogFlushRows: 100, BacklogFlushInterval: wait, Lag: lag.Load}.WithDefaults(), &flow.Stats{})
	s.insert = f.insert
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, f
}

func sendRows(t *testing.T, s *Sink, seq uint64, rows int) {
	t.Helper()
	ids := make([]string, rows)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d-%d", seq, i)
	}
	if !s.Send(context.Background(), 0, seq, tpUnit(&recordingAcker{}, int64(seq), ids...)) {
		t.Fatal("send refused")
	}
}

// While the consumer is behind by at least FlushRows messages, the sink
// writes BacklogFlushRows rows per insert instead of FlushRows: the same
// 100 rows in one insert rather than ten. Live, it writes every FlushRows
// as before.
func TestSinkBatchesMoreWhileBehind(t *testing.T) {
	for _, tc := range []struct {
		name string
		lag  int64
		want []int
	}{
		{"live", 9, []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10}},
		{"behind", 10, []int{100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lag atomic.Int64
			lag.Store(tc.lag)
			s, f := backlogSink(t, &lag, time.Hour)
			for i := range 10 {
				sendRows(t, s, uint64(i+1), 10)
			}
			deadline := time.Now().Add(20 * time.Second)
			for s.Acked(0) < 10 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got, _ := f.get(); !slices.Equal(got, tc.want) {
				t.Errorf("rows per insert %v, want %v", got, tc.want)
			}
		})
	}
}

// Behind, a batch smaller than BacklogFlushRows waits until it is
// BacklogFlushInterval old, not FlushInterval; once the consumer has
// caught up, the next tick writes it.
func TestSinkBacklogBatchWaitsItsInterval(t *testing.T) {
	var lag atomic.Int64
	lag.Store(1000)
	const wait = 400 * time.Millisecond
	s, f := backlogSink(t, &lag, wait)
	start := time.Now()
	sendRows(t, s, 1, 5)
	deadline := time.Now().Add(20 * time.Second)
	for s.Acked(0) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sizes, at := f.get()
	if !slices.Equal(sizes, []int{5}) {
		t.Fatalf("rows per insert %v, want [5]", sizes)
	}
	if d := at[0].Sub(start); d < wait {
		t.Errorf("written %s after its first row, want at least the backlog interval %s", d, wait)
	}

}

// Behind, a small batch is not written at FlushInterval; once the consumer
// has caught up, the next tick writes it.
func TestSinkWritesBacklogBatchOnceCaughtUp(t *testing.T) {
	var lag atomic.Int64
	lag.Store(1000)
	s, f := backlogSink(t, &lag, time.Hour)
	sendRows(t, s, 1, 5)
	time.Sleep(50 * time.Millisecond) // five live intervals
	if sizes, _ := f.get(); len(sizes) != 0 {
		t.Fatalf("rows per insert %v while behind, want none yet", sizes)
	}
	lag.Store(0)
	deadline := time.Now().Add(20 * time.Second)
	for s.Acked(0) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if sizes, _ := f.get(); !slices.Equal(sizes, []int{5}) {
		t.Fatalf("rows per insert %v, want [5]", sizes)
	}
}

// The sink is behind from a lag of FlushRows until the lag falls to a
// tenth of it: a lag between the two keeps the mode it found.
func TestSinkBehindHysteresis(t *testing.T) {
	var lag atomic.Int64
	s := New(nil, &recordingWriter{}, Config{FlushRows: 100, BacklogFlushRows: 1000, Lag: lag.Load}.WithDefaults(), &flow.Stats{})
	for _, step := range []struct {
		lag  int64
		want int
	}{{50, 100}, {99, 100}, {100, 1000}, {50, 1000}, {11, 1000}, {10, 100}, {50, 100}, {0, 100}, {5000, 1000}} {
		lag.Store(step.lag)
		if rows, _ := s.limits(); rows != step.want {
			t.Errorf("lag %d: insert at %d rows, want %d", step.lag, rows, step.want)
		}
	}
}
