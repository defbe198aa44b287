package source

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/sessionize"
)

// BenchmarkRouteForwarded is route's cost for a touchpoint consumed away
// from its home (CRC32 producers: most events), up to the record handed
// to the writer; Kafka's answer is simulated at once.
func BenchmarkRouteForwarded(b *testing.B) {
	r := newStitchRig(b, false)
	r.rt.Fwd.write = func(_ context.Context, msgs ...kafka.Message) error {
		r.rt.Fwd.completion(msgs, nil)
		return nil
	}
	f := r.fetcher(rigTP, 1)
	user := keyWithHome("user-", 0)
	m := kafka.Message{Topic: rigTP, Partition: 1, Value: []byte(touchpointJSON("tp-1", user, "")), Time: time.Now()}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.Offset++
		if !f.route(context.Background(), &m, true, now) {
			b.Fatal("route returned false")
		}
	}
}

// BenchmarkRouteDirect is the direct path from a fetched touchpoint to the
// shards: decoding, routing, and the hand-over to the shards' queues,
// which goroutines empty as shards do (taking every queued batch).
func BenchmarkRouteDirect(b *testing.B) {
	r := newStitchRig(b, false, 0)
	for i := range r.shards {
		r.shards[i] = make(chan []flow.Item, max(1, sessionize.DefaultQueueSize/flow.BatchItems))
	}
	f := r.fetcher(rigTP, 0)
	f.tracker = nopOffsets{}
	msgs := make([]kafka.Message, 1024)
	for i := range msgs {
		user := keyWithHome(fmt.Sprintf("user%d-", i), 0)
		msgs[i] = kafka.Message{Topic: rigTP, Partition: 0, Value: []byte(touchpointJSON(fmt.Sprint("tp-", i), user, "")), Time: time.Now()}
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	for _, s := range r.shards {
		wg.Go(func() {
			var batch []flow.Item
			for items := range s {
				batch = append(batch[:0], items...)
				flow.PutItems(items)
				got.Add(int64(len(batch)))
			}
		})
	}
	now := time.Now()
	b.ReportAllocs()
	n := int64(0)
	for b.Loop() {
		m := &msgs[n%int64(len(msgs))]
		m.Offset = n
		n++
		if !f.route(context.Background(), m, true, now) {
			b.Fatal("route returned false")
		}
	}
	f.handOver(context.Background())
	for _, s := range r.shards {
		close(s)
	}
	wg.Wait()
	if got.Load() != n {
		b.Fatalf("%d items reached the shards, want %d", got.Load(), n)
	}
}

// nopOffsets acknowledges nothing.
type nopOffsets struct{}

func (nopOffsets) Add(int64)  {}
func (nopOffsets) Done(int64) {}
