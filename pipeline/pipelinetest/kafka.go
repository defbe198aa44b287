package pipelinetest

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// CreateTopic creates topic with the given partitions (replication 1) and
// waits until every partition has a leader. The broker does not
// auto-create topics.
func (e *Env) CreateTopic(topic string, partitions int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, done := e.kafkaClient()
	defer done()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions {
			led := 0
			for _, p := range md.Topics[0].Partitions {
				if p.Leader.Host != "" && p.Error == nil {
					led++
				}
			}
			if led == partitions {
				return
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("create topic %s: partitions without a leader after 30s (last error %v)", topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Produce writes msgs to topic in order, keyed and partitioned like the
// generator's producer (murmur2, as the Java client), with acknowledged
// writes.
func (e *Env) Produce(topic string, msgs []Msg) {
	e.t.Helper()
	e.ProduceWith(topic, msgs, &kafka.Murmur2Balancer{})
}

// ProduceWith writes msgs to topic in order, partitioned by bal (say
// kafka.CRC32Balancer, librdkafka's default, or a random one), with
// acknowledged writes.
func (e *Env) ProduceWith(topic string, msgs []Msg, bal kafka.Balancer) {
	e.t.Helper()
	if len(msgs) == 0 {
		return
	}
	tr := &kafka.Transport{DialTimeout: 5 * time.Second} // a fresh metadata cache: see kafkaClient
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(e.Kafka),
		Transport:    tr,
		Topic:        topic,
		Balancer:     bal,
		RequiredAcks: kafka.RequireAll,
		BatchSize:    5000,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := make([]kafka.Message, 0, 5000)
	for start := 0; start < len(msgs); start += cap(out) {
		out = out[:0]
		for _, m := range msgs[start:min(len(msgs), start+cap(out))] {
			out = append(out, kafka.Message{Key: m.Key, Value: m.Value})
		}
		if err := w.WriteMessages(ctx, out...); err != nil {
			e.t.Fatalf("produce %d messages to %s: %v", len(out), topic, err)
		}
	}
}

// ProduceEvents writes the conversions first, then the touchpoints, then
// the identity events (to the identities topic, which the Env must have:
// Options.Identities): the order in which a consumer finds conversions far
// ahead of the touchpoints that lead to them, and links after the events
// they join.
func (e *Env) ProduceEvents(ev Events) {
	e.t.Helper()
	e.Produce(e.Conversions, ev.Conversions)
	e.Produce(e.Touchpoints, ev.Touchpoints)
	e.ProduceIdentities(ev.Identities, &kafka.Murmur2Balancer{})
}

// ProduceIdentities writes identity events to the identities topic,
// partitioned by bal; it fails t when the Env has no identities topic
// (Options.Identities), as the events would stitch nothing.
func (e *Env) ProduceIdentities(msgs []Msg, bal kafka.Balancer) {
	e.t.Helper()
	if len(msgs) == 0 {
		return
	}
	if !e.stitches {
		e.t.Fatalf("%d identity events for an Env without an identities topic: set Options.Identities", len(msgs))
	}
	e.ProduceWith(e.Identities, msgs, bal)
}

// ReadTopic reads every partition of topic from the start until it has
// want messages or timeout passed, and returns them ordered by partition
// and offset.
func (e *Env) ReadTopic(topic string, want int, timeout time.Duration) []kafka.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client, done := e.kafkaClient()
	defer done()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		e.t.Fatalf("read topic %s: metadata: %v %+v", topic, err, md)
	}
	got := make(chan kafka.Message)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, p := range md.Topics[0].Partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.Kafka}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		go func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(rctx)
				if err != nil {
					return
				}
				select {
				case got <- m:
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	var out []kafka.Message
	for len(out) < want {
		select {
		case m := <-got:
			out = append(out, m)
		case <-ctx.Done():
			e.t.Errorf("read topic %s: %d of %d messages after %s", topic, len(out), want, timeout)
			want = 0
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

// EndOffsets returns the end offset of every partition of topic.
func (e *Env) EndOffsets(topic string) map[int]int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client, done := e.kafkaClient()
	defer done()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		e.t.Fatalf("end offsets of %s: metadata: %v", topic, err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range md.Topics[0].Partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		e.t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			e.t.Fatalf("end offsets of %s/%d: %v", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out
}

// CommittedOffsets returns the group's committed offset of every partition
// of topic (-1: none).
func (e *Env) CommittedOffsets(topic string) map[int]int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ends := e.EndOffsets(topic)
	client, done := e.kafkaClient()
	defer done()
	var parts []int
	for p := range ends {
		parts = append(parts, p)
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: e.Group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		e.t.Fatalf("committed offsets of %s: %v", topic, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// ReadAt returns the message at offset of a partition of topic.
func (e *Env) ReadAt(topic string, partition int, offset int64) kafka.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.Kafka}, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		e.t.Fatalf("read %s/%d@%d: %v", topic, partition, offset, err)
	}
	m, err := r.ReadMessage(ctx)
	if err != nil {
		e.t.Fatalf("read %s/%d@%d: %v", topic, partition, offset, err)
	}
	return m
}

// WaitCommitted polls until the group has committed the end of every
// partition of the input topics (the identities topic too when the Env
// has one), or fails t after timeout.
func (e *Env) WaitCommitted(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	topics := []string{e.Touchpoints, e.Conversions}
	if e.stitches {
		topics = append(topics, e.Identities)
	}
	for {
		left := int64(0)
		for _, topic := range topics {
			committed := e.CommittedOffsets(topic)
			for p, end := range e.EndOffsets(topic) {
				left += end - max(committed[p], 0)
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("group %s: %d messages still uncommitted after %s", e.Group, left, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
