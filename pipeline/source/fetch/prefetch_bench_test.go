package fetch

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"
)

// BenchmarkPrefetchNext is the fetcher's side of the hand-over alone:
// Loop.Next over runs of prefetchRun messages that a goroutine hands
// over as the fetch loop does (no Kafka: the runs are empty messages).
// The fetcher's clock, read every 64 messages (source's clockEvery), was
// in it before the loop had a package of its own: about 0.8 ns per message
// of the figures in docs/BENCHMARKS.md.
func BenchmarkPrefetchNext(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := handOverLoop(ctx)
	go func() {
		for {
			var buf []kafka.Message
			select {
			case buf = <-l.free:
			default:
				buf = make([]kafka.Message, 0, prefetchRun)
			}
			select {
			case l.runs <- fetchedRun{msgs: buf[:prefetchRun]}:
			case <-ctx.Done():
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := l.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
