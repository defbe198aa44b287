package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"

	"github.com/attributor/attributor/pipeline/generate"
)

// tickProducer sends what one live tick emitted (generate.EmitLive calls
// Flush every generate.LiveTick) as one produce request: every partition
// of both topics in it, acknowledged by all in-sync replicas, as a Java
// producer sends one request per broker for all the partitions it has
// records for. kafka-go's Writer (generate.KafkaProducer) sends one
// request per partition and topic: at 20,000 events/s and 4 partitions that
// was up to 1,600 requests a second for 200 ticks, each encoded by this
// tool and handled by the broker, both on the two cores the benchmark
// measures. The records, their keys, their partitions (murmur2 of the key,
// like kafka.Murmur2Balancer and the Java client) and their acks are the
// same; only the requests are fewer.
//
// It needs every partition of the topics to be led by one broker (true of
// the single broker the benchmark runs on; a request to a cluster whose
// leaders differ fails with an error saying so).
type tickProducer struct {
	ctx       context.Context
	transport *kafka.Transport
	addr      net.Addr
	topics    [2]string // touchpoints, conversions
	parts     []int     // 0..partitions-1, for the balancer
	balancer  kafka.Murmur2Balancer
	pending   [2][][]protocol.Record // per topic, per partition
	arena     []byte
	n         int // records pending
	timeout   time.Duration
}

func newTickProducer(ctx context.Context, broker, touchpoints, conversions string, partitions int) *tickProducer {
	p := &tickProducer{ctx: ctx, addr: kafka.TCP(broker), topics: [2]string{touchpoints, conversions},
		transport: &kafka.Transport{ClientID: "attributor-bench-latency"}, timeout: 30 * time.Second}
	for i := range partitions {
		p.parts = append(p.parts, i)
	}
	for t := range p.pending {
		p.pending[t] = make([][]protocol.Record, partitions)
	}
	return p
}

// Write queues one event for the next Flush; it is a generate.Sink.
func (p *tickProducer) Write(kind generate.Kind, key string, value []byte) error {
	t := 0
	switch kind {
	case generate.Touchpoint:
	case generate.Conversion:
		t = 1
	default:
		return fmt.Errorf("produce: unexpected %v event (the latency benchmark makes no identities)", kind)
	}
	if cap(p.arena)-len(p.arena) < len(key)+len(value) {
		// The old arena stays alive while pending records point into it.
		p.arena = make([]byte, 0, max(256<<10, len(key)+len(value)))
	}
	n := len(p.arena)
	p.arena = append(p.arena, key...)
	p.arena = append(p.arena, value...)
	k, v := p.arena[n:n+len(key):n+len(key)], p.arena[n+len(key):]
	part := p.balancer.Balance(kafka.Message{Key: k}, p.parts...)
	p.pending[t][part] = append(p.pending[t][part], protocol.Record{Time: time.Now(), Key: protocol.NewBytes(k), Value: protocol.NewBytes(v)})
	p.n++
	return nil
}

// Flush sends the queued events in one request and returns when the broker
// acknowledged all of them, or with the first partition's error.
func (p *tickProducer) Flush() error {
	if p.n == 0 {
		return nil
	}
	req := &produce.Request{Acks: -1, Timeout: int32(p.timeout.Milliseconds())}
	for t, topic := range p.topics {
		rt := produce.RequestTopic{Topic: topic}
		for part, recs := range p.pending[t] {
			if len(recs) == 0 {
				continue
			}
			rt.Partitions = append(rt.Partitions, produce.RequestPartition{Partition: int32(part),
				RecordSet: protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(recs...)}})
		}
		if len(rt.Partitions) > 0 {
			req.Topics = append(req.Topics, rt)
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	m, err := p.transport.RoundTrip(ctx, p.addr, req)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	res, ok := m.(*produce.Response)
	if !ok {
		return fmt.Errorf("produce: unexpected response %T", m)
	}
	var errs []error
	acked := 0
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				errs = append(errs, fmt.Errorf("produce %s[%d]: %w", rt.Topic, rp.Partition, kafka.Error(rp.ErrorCode)))
				continue
			}
			acked++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	want := 0
	for t := range p.pending {
		for part, recs := range p.pending[t] {
			if len(recs) > 0 {
				want++
			}
			clear(recs)
			p.pending[t][part] = recs[:0]
		}
	}
	if acked != want {
		return fmt.Errorf("produce: %d partitions acknowledged, %d sent", acked, want)
	}
	p.n = 0
	p.arena = p.arena[:0] // the request is written: nothing points into the arena any more
	return nil
}

// Close releases the transport's connections.
func (p *tickProducer) Close() { p.transport.CloseIdleConnections() }
