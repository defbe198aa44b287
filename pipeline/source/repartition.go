package source

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// RepartitionTopic is the internal topic of a consumer group: events
// consumed away from their home partition are forwarded through it to the
// owner of that home.
func RepartitionTopic(group string) string { return group + ".repartition" }

// Headers of a forwarded record. The value is the original message's
// value (an event) or a mark (JSON, see markRecord).
const (
	HeaderKind            = "attributor.kind" // touchpoint, conversion or mark
	HeaderKey             = "attributor.key"  // the key the event is attributed under
	HeaderOriginTopic     = "attributor.origin.topic"
	HeaderOriginPartition = "attributor.origin.partition"
	HeaderOriginOffset    = "attributor.origin.offset"
)

const (
	kindTouchpoint = "touchpoint"
	kindConversion = "conversion"
	kindMark       = "mark"
)

// markRecord is a mark sent through the repartition topic: input partition
// Partition of Topic got to event time Watermark (touchpoints only), was at
// the end of its log when CaughtUp, and, when End >= 0, has routed every
// message before offset End (a --until-caught-up run's last mark has the
// offset it stops at).
// Everything the input partition forwarded to this home before the mark
// precedes it in the home's partition (one producer, one partition, in
// order).
type markRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Watermark int64  `json:"watermark"`
	CaughtUp  bool   `json:"caught_up"`
	End       int64  `json:"end"`
}

// Routing is how a generation's fetchers route events: R homes, the ones
// this member owns, and the forwarder to the others.
type Routing struct {
	Topic string       // the repartition topic
	Homes int          // its partition count R
	Owned map[int]bool // repartition partitions this member owns in this generation
	Fwd   *Forwarder
	// Inputs: the partition count of every input topic that forwards
	// (touchpoints, conversions), for the final marks a repartition
	// fetcher waits for.
	Inputs map[string]int
	// Ends: with --until-caught-up, the offset each input partition stops
	// at; nil otherwise.
	Ends map[string]map[int]LogRange
}

// direct says whether an event of input partition p whose home is home
// goes straight to this member's shards: it is at home already, and this
// member owns that home.
func (rt *Routing) direct(p, home int) bool { return p == home && rt.Owned[home] }

// maxInFlight bounds the forwarded records not yet acknowledged by Kafka:
// a fetcher waits for a slot (backpressure), as it waits for a full shard
// queue.
const maxInFlight = 32 << 10

// Forwarder produces records to the repartition topic with acks=all and
// fires each forwarded event's ack when Kafka acknowledged it. Records to
// one partition are written in the order they were sent (kafka-go writes
// a partition's batches one after the other), so a mark follows the
// events it covers.
type Forwarder struct {
	w      *kafka.Writer
	slots  chan struct{}
	st     *flow.Stats
	failed func(error)
	once   sync.Once
}

type fwdData struct {
	home int
	ack  flow.Ack
	kind flow.ItemKind // KindMark for a mark
}

// NewForwarder returns a forwarder to the repartition topic; failed is
// called once when a record could not be written (the generation must end:
// the input offsets it covers are never acknowledged).
func (s *Source) NewForwarder(failed func(error)) *Forwarder {
	f := &Forwarder{slots: make(chan struct{}, maxInFlight), st: s.Stats, failed: failed}
	f.w = &kafka.Writer{
		Addr:         kafka.TCP(s.Cfg.Brokers...),
		Transport:    s.Conn.Transport(),
		Topic:        s.Cfg.RepartitionTopic,
		RequiredAcks: kafka.RequireAll,
		Async:        true,
		BatchSize:    2000,
		BatchTimeout: 2 * time.Millisecond,
		MaxAttempts:  10,
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.WriterData.(*fwdData).home }),
		Completion:   f.completion,
	}
	return f
}

func (f *Forwarder) completion(msgs []kafka.Message, err error) {
	var tps, cvs int64
	for i := range msgs {
		d := msgs[i].WriterData.(*fwdData)
		if err == nil {
			d.ack.Done()
			switch d.kind {
			case flow.KindTouchpoint:
				tps++
			case flow.KindConversion:
				cvs++
			}
		}
		<-f.slots
	}
	f.st.FwdTouchpoints.Add(tps)
	f.st.FwdConversions.Add(cvs)
	if err != nil {
		f.fail(fmt.Errorf("forward to the repartition topic: %w", err))
	}
}

func (f *Forwarder) fail(err error) { f.once.Do(func() { f.failed(err) }) }

// send queues m for partition home; it blocks while maxInFlight records
// wait for Kafka, and returns false when ctx ended first or the writer
// refused the record (the forwarder has then failed).
func (f *Forwarder) send(ctx context.Context, m kafka.Message, d *fwdData) bool {
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	m.WriterData = d
	if err := f.w.WriteMessages(context.Background(), m); err != nil {
		<-f.slots
		f.fail(fmt.Errorf("forward to the repartition topic: %w", err))
		return false
	}
	return true
}

// Close writes what is queued and waits for Kafka's answers: every ack of
// a forwarded event has fired (or the forwarder failed) when it returns.
func (f *Forwarder) Close() error {
	err := f.w.Close()
	f.w.Transport.(*kafka.Transport).CloseIdleConnections()
	return err
}

// forward produces the event of m (decoded as kind, attributed under key)
// to its home partition, with where it came from.
func (f *Forwarder) forward(ctx context.Context, m *kafka.Message, kind flow.ItemKind, key string, home int, ack flow.Ack) bool {
	k := kindTouchpoint
	if kind == flow.KindConversion {
		k = kindConversion
	}
	rec := kafka.Message{Key: []byte(key), Value: m.Value, Headers: []kafka.Header{
		{Key: HeaderKind, Value: []byte(k)},
		{Key: HeaderKey, Value: []byte(key)},
		{Key: HeaderOriginTopic, Value: []byte(m.Topic)},
		{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, m.Offset, 10)},
	}}
	return f.send(ctx, rec, &fwdData{home: home, ack: ack, kind: kind})
}

// mark produces a mark to home.
func (f *Forwarder) mark(ctx context.Context, home int, mr markRecord) bool {
	v, _ := json.Marshal(mr) // a struct of numbers and a string: cannot fail
	rec := kafka.Message{Value: v, Headers: []kafka.Header{{Key: HeaderKind, Value: []byte(kindMark)}}}
	return f.send(ctx, rec, &fwdData{home: home, kind: flow.KindMark})
}

func header(m *kafka.Message, key string) []byte {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
