package source

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// BenchmarkPrefetchNext is the fetcher's side of the hand-over alone:
// prefetch.next over runs of prefetchRun messages that a goroutine hands
// over as the fetch loop does (no Kafka: the runs are empty messages).
func BenchmarkPrefetchNext(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := &prefetch{p: &partitionFetch{ctx: ctx}, runs: make(chan fetchedRun, 1), free: make(chan []kafka.Message, 2)}
	q.clock = time.Now
	go func() {
		for {
			var buf []kafka.Message
			select {
			case buf = <-q.free:
			default:
				buf = make([]kafka.Message, 0, prefetchRun)
			}
			select {
			case q.runs <- fetchedRun{msgs: buf[:prefetchRun]}:
			case <-ctx.Done():
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := q.next(); err != nil {
			b.Fatal(err)
		}
	}
}
