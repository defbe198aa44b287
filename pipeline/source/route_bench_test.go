package source

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
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
