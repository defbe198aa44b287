package fetch

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"
)

// Next says which message is the first of a run handed over, and only
// that one: the fetcher reads its clock afresh there (a run may follow a
// long wait), and every clockEvery messages within the run otherwise.
func TestNextSaysWhereARunStarts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := handOverLoop(ctx)
	sizes := []int{1, 63, 64, 65, 1000, 3, 128, 129}
	go func() {
		for r, n := range sizes {
			msgs := make([]kafka.Message, n)
			for i := range msgs {
				msgs[i].Offset = int64(r<<16 | i)
			}
			select {
			case l.runs <- fetchedRun{msgs: msgs}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for r, n := range sizes {
		for i := range n {
			m, newRun, err := l.Next()
			if err != nil {
				t.Fatal(err)
			}
			if m.Offset != int64(r<<16|i) {
				t.Fatalf("run %d, message %d: got message %d of run %d", r, i, m.Offset&0xffff, m.Offset>>16)
			}
			if newRun != (i == 0) {
				t.Fatalf("run %d (%d messages), message %d: newRun %v, want %v", r, n, i, newRun, i == 0)
			}
		}
	}
}

// handOverLoop is a Loop without a connection: the test feeds its runs
// channel itself, as the fetch loop's goroutine does.
func handOverLoop(ctx context.Context) *Loop {
	return &Loop{p: &partitionFetch{ctx: ctx}, runs: make(chan fetchedRun, 1), free: make(chan []kafka.Message, 2)}
}
