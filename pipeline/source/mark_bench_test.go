package source

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"

	"github.com/attributor/attributor/pipeline/flow"
)

// answeringBroker is a kafka-go transport that answers at once: the
// metadata of a topic of its partitions, and every produce request.
type answeringBroker struct{ partitions int }

func (a answeringBroker) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	switch r := req.(type) {
	case *metadataAPI.Request:
		t := metadataAPI.ResponseTopic{Name: r.TopicNames[0]}
		for p := range a.partitions {
			t.Partitions = append(t.Partitions, metadataAPI.ResponsePartition{PartitionIndex: int32(p)})
		}
		return &metadataAPI.Response{Brokers: []metadataAPI.ResponseBroker{{Host: "broker", Port: 9092}}, Topics: []metadataAPI.ResponseTopic{t}}, nil
	case *produceAPI.Request:
		t := r.Topics[0]
		return &produceAPI.Response{Topics: []produceAPI.ResponseTopic{{Topic: t.Topic,
			Partitions: []produceAPI.ResponsePartition{{Partition: t.Partitions[0].Partition}}}}}, nil
	}
	return nil, fmt.Errorf("answeringBroker: no answer to %T", req)
}

// BenchmarkMarkTick is one tick of live marks through the forwarder's
// kafka-go Writer: 8 input partitions (4 of touchpoints, 4 of
// conversions) each marking the 3 homes other than its own, one partition
// every millisecond, as the fetchers of one member do after a tick of the
// wall clock (markDue: each after the first message it fetches past it), to
// a broker that answers at once. An op ends when every mark is
// acknowledged; its time is mostly waiting, its bytes mostly kafka-go's
// write batches, each with room for the Writer's BatchSize messages.
func BenchmarkMarkTick(b *testing.B) {
	const homes = 4
	src := &Source{Cfg: Config{Brokers: []string{"broker:9092"}, RepartitionTopic: "bench.repartition"}, Stats: &flow.Stats{}}
	f := src.NewForwarder(func(err error) { b.Errorf("forwarder failed: %v", err) })
	f.w.Transport = answeringBroker{partitions: homes}
	var acked atomic.Int64
	f.w.Completion = func(msgs []kafka.Message, err error) {
		f.completion(msgs, err)
		acked.Add(int64(len(msgs)))
	}
	defer f.w.Close()
	ctx := context.Background()
	wm := time.Now().UnixMilli()
	var want int64
	b.ReportAllocs()
	for b.Loop() {
		wm += markInterval.Milliseconds()
		for _, topic := range []string{"tp", "cv"} {
			for p := range homes {
				mr := markRecord{Topic: topic, Partition: int32(p), Watermark: wm, End: wm}
				for h := range homes {
					if h != p {
						if !f.mark(ctx, h, mr) {
							b.Fatal("mark refused")
						}
						want++
					}
				}
				time.Sleep(time.Millisecond)
			}
		}
		for acked.Load() < want {
			time.Sleep(50 * time.Microsecond)
		}
	}
}
