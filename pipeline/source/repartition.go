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
	"github.com/attributor/attributor/schemas"
)

// RepartitionTopic is the internal topic of a consumer group: events
// consumed away from their home partition are forwarded through it to the
// owner of that home.
func RepartitionTopic(group string) string { return group + ".repartition" }

// Headers of a forwarded record. The value is the original message's
// value (an event: touchpoint, conversion, identity), a mark (JSON, see
// markRecord), a link (JSON, see linkRecord) or a move (JSON, see
// moveRecord).
const (
	HeaderKind            = "attributor.kind" // touchpoint, conversion, identity, link, move or mark
	HeaderKey             = "attributor.key"  // the key the record is processed under (Item.UserKey)
	HeaderOriginTopic     = "attributor.origin.topic"
	HeaderOriginPartition = "attributor.origin.partition"
	HeaderOriginOffset    = "attributor.origin.offset"
)

const (
	kindTouchpoint = "touchpoint"
	kindConversion = "conversion"
	kindIdentity   = "identity" // an identity event, to its anonymous_id's home
	kindLink       = "link"     // the link of an event carrying both ids, to its anonymous_id's home
	kindMove       = "move"     // a device's events change key (flow.Move), from a shard
	kindMark       = "mark"
)

// kindName is the attributor.kind header of an item kind's records.
func kindName(k flow.ItemKind) string {
	switch k {
	case flow.KindTouchpoint:
		return kindTouchpoint
	case flow.KindConversion:
		return kindConversion
	case flow.KindIdentity:
		return kindIdentity
	case flow.KindLink:
		return kindLink
	case flow.KindMove:
		return kindMove
	}
	return kindMark
}

// kindValues[k] is []byte(kindName(k)), made once for every kind rather
// than per forwarded record (a header value is never written to).
var kindValues = func() (v [256][]byte) {
	for k := range v {
		v[k] = []byte(kindName(flow.ItemKind(k)))
	}
	return v
}()

// linkRecord is the value of a link record: the link a touchpoint or
// conversion carrying both ids makes (schemas.Link), sent to its
// anonymous_id's home. The event itself goes to its user's home.
type linkRecord struct {
	AnonymousID string `json:"anonymous_id"`
	UserID      string `json:"user_id"`
	EventID     string `json:"event_id"`
	TimeMs      int64  `json:"ts_ms"`
}

func (r *linkRecord) link() schemas.Link {
	return schemas.Link{AnonymousID: r.AnonymousID, UserID: r.UserID, EventID: r.EventID, TimeMs: r.TimeMs}
}

// readLink decodes a link record; every field but the time is required.
func readLink(b []byte) (schemas.Link, error) {
	var r linkRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return schemas.Link{}, fmt.Errorf("link record: %w", err)
	}
	if r.AnonymousID == "" || r.UserID == "" || r.EventID == "" {
		return schemas.Link{}, fmt.Errorf("link record: anonymous_id, user_id and event_id are required")
	}
	return r.link(), nil
}

// moveRecord is the value of a move record (flow.Move).
type moveRecord struct {
	Anon string `json:"anonymous_id"`
	From string `json:"from"`
	To   string `json:"to"`
	Out  bool   `json:"out"`
}

// readMove decodes a move record; the three keys are required.
func readMove(b []byte) (flow.Move, error) {
	var r moveRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return flow.Move{}, fmt.Errorf("move record: %w", err)
	}
	if r.Anon == "" || r.From == "" || r.To == "" {
		return flow.Move{}, fmt.Errorf("move record: anonymous_id, from and to are required")
	}
	return flow.Move{Anon: r.Anon, From: r.From, To: r.To, Out: r.Out}, nil
}

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
	// (touchpoints, conversions, identities when stitching:
	// Source.Inputs), for the final marks a repartition fetcher waits for.
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

// fwdBatchSize is the forwarder's kafka-go Writer.BatchSize: the most
// records in one produce request to one home. kafka-go allocates (and the
// runtime clears) room for that many messages, 152 bytes each, for every
// write batch however few records it gets: a mark, in live traffic, is
// most of a batch's records. 2,000 made that 304 KB per batch; 512 makes it
// 78 KB, and a request still carries up to about 200 KB of forwarded
// events (the 2 ms BatchTimeout usually ends a batch first).
const fwdBatchSize = 512

// Forwarder produces records to the repartition topic with acks=all and
// fires each forwarded event's ack when Kafka acknowledged it. Records to
// one partition are written in the order they were sent (kafka-go writes
// a partition's batches one after the other), so a mark follows the
// events it covers.
type Forwarder struct {
	w *kafka.Writer
	// write queues records: w.WriteMessages (async: completion fires
	// the acks); tests capture the records instead.
	write  func(ctx context.Context, msgs ...kafka.Message) error
	slots  chan struct{}
	st     *flow.Stats
	failed func(error)
	once   sync.Once
	// The input topics a shard's forwarded event came from, by kind, for
	// its origin headers.
	tpTopic, cvTopic string
	// closing: Close has begun; records are refused from then on. A
	// record handed to a kafka-go Writer while it closes can hang Close
	// for ever (segmentio/kafka-go#1307), and a fetcher's idle marks or a
	// shard's forwards may still be on their way.
	mu      sync.RWMutex
	closing bool

	// Marks wait up to markDelay here, at most one per home and input
	// partition (the newest), and are written together (flushMarks);
	// flushMu keeps one flush at a time. See mark.
	markMu  sync.Mutex
	marks   []pendingMark
	markT   *time.Timer
	flushMu sync.Mutex
}

// pendingMark is a mark waiting for the forwarder's next flush.
type pendingMark struct {
	home int
	rec  markRecord
}

// markDelay is how long a mark may wait for the marks of the other input
// partitions before they are written together.
const markDelay = 10 * time.Millisecond

var _ flow.Forwarder = (*Forwarder)(nil)

type fwdData struct {
	home int
	ack  flow.Ack
	kind flow.ItemKind // KindMark for a mark
}

// NewForwarder returns a forwarder to the repartition topic; failed is
// called once when a record could not be written (the generation must end:
// the input offsets it covers are never acknowledged).
func (s *Source) NewForwarder(failed func(error)) *Forwarder {
	f := &Forwarder{slots: make(chan struct{}, maxInFlight), st: s.Stats, failed: failed,
		tpTopic: s.Cfg.TouchpointsTopic, cvTopic: s.Cfg.ConversionsTopic}
	f.w = &kafka.Writer{
		Addr:         kafka.TCP(s.Cfg.Brokers...),
		Transport:    s.Conn.Transport(),
		Topic:        s.Cfg.RepartitionTopic,
		RequiredAcks: kafka.RequireAll,
		Async:        true,
		BatchSize:    fwdBatchSize,
		BatchTimeout: 2 * time.Millisecond,
		MaxAttempts:  10,
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.WriterData.(*fwdData).home }),
		Completion:   f.completion,
	}
	f.write = f.w.WriteMessages
	return f
}

func (f *Forwarder) completion(msgs []kafka.Message, err error) {
	var tps, cvs, links int64
	for i := range msgs {
		d := msgs[i].WriterData.(*fwdData)
		if err == nil {
			d.ack.Done()
			switch d.kind {
			case flow.KindTouchpoint:
				tps++
			case flow.KindConversion:
				cvs++
			case flow.KindIdentity, flow.KindLink:
				links++
			}
		}
		<-f.slots
	}
	f.st.FwdTouchpoints.Add(tps)
	f.st.FwdConversions.Add(cvs)
	f.st.FwdLinks.Add(links)
	if err != nil {
		f.fail(fmt.Errorf("forward to the repartition topic: %w", err))
	}
}

func (f *Forwarder) fail(err error) { f.once.Do(func() { f.failed(err) }) }

// send queues m for partition home; it blocks while maxInFlight records
// wait for Kafka, and returns false when ctx ended first, the forwarder is
// closing, or the writer refused the record (the forwarder has then
// failed).
func (f *Forwarder) send(ctx context.Context, m kafka.Message, d *fwdData) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closing {
		return false
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	m.WriterData = d
	if err := f.write(context.Background(), m); err != nil {
		<-f.slots
		f.fail(fmt.Errorf("forward to the repartition topic: %w", err))
		return false
	}
	return true
}

// Close writes what is queued, the marks waiting included, and waits for
// Kafka's answers: every ack of a forwarded record has fired (or the
// forwarder failed) when it returns. Records sent from then on are refused
// (their acks never fire).
func (f *Forwarder) Close() error {
	f.mu.Lock() // waits for the sends under way
	f.closing = true
	f.mu.Unlock()
	f.markMu.Lock()
	if f.markT != nil {
		f.markT.Stop()
	}
	f.markMu.Unlock()
	f.flushMu.Lock() // a flush under way ends first
	f.writeMarks()   // the marks queued before Close began
	f.flushMu.Unlock()
	err := f.w.Close()
	if t, ok := f.w.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return err
}

// forward produces the event of m (decoded as kind: touchpoint,
// conversion or identity, processed under key) to its home partition, with
// where it came from.
func (f *Forwarder) forward(ctx context.Context, m *kafka.Message, kind flow.ItemKind, key string, home int, ack flow.Ack) bool {
	rec := eventRecord(kind, key, m.Value, m.Topic, int32(m.Partition), m.Offset)
	return f.send(ctx, rec, &fwdData{home: home, ack: ack, kind: kind})
}

// forwardLink produces the link l of the event of m (a touchpoint or
// conversion carrying both ids) to the home of its anonymous_id, with where
// the event came from.
func (f *Forwarder) forwardLink(ctx context.Context, m *kafka.Message, l schemas.Link, home int, ack flow.Ack) bool {
	v, _ := json.Marshal(linkRecord{AnonymousID: l.AnonymousID, UserID: l.UserID, EventID: l.EventID, TimeMs: l.TimeMs}) // strings and a number: cannot fail
	rec := eventRecord(flow.KindLink, l.AnonymousID, v, m.Topic, int32(m.Partition), m.Offset)
	return f.send(ctx, rec, &fwdData{home: home, ack: ack, kind: flow.KindLink})
}

// Forward produces a shard's record to its home (flow.Forwarder): an
// event to be processed under fw.Key there (its original bytes, with the
// input partition and offset it was consumed at), or a move. fw.Ack fires
// once Kafka acknowledged the record. Records to one home keep the order
// of the calls.
func (f *Forwarder) Forward(ctx context.Context, fw *flow.Forward) bool {
	var rec kafka.Message
	switch fw.Kind {
	case flow.KindTouchpoint, flow.KindConversion:
		topic := f.tpTopic
		if fw.Kind == flow.KindConversion {
			topic = f.cvTopic
		}
		rec = eventRecord(fw.Kind, fw.Key, fw.Value, topic, fw.Origin, fw.Offset)
	case flow.KindMove:
		mv := &fw.Move
		k := []byte(fw.Key)
		rec.Key = k
		rec.Value, _ = json.Marshal(moveRecord{Anon: mv.Anon, From: mv.From, To: mv.To, Out: mv.Out}) // strings and a bool: cannot fail
		rec.Headers = []kafka.Header{{Key: HeaderKind, Value: kindValues[flow.KindMove]}, {Key: HeaderKey, Value: k}}
	default:
		f.fail(fmt.Errorf("forward: a shard cannot forward records of kind %d", fw.Kind))
		return false
	}
	return f.send(ctx, rec, &fwdData{home: fw.Home, ack: fw.Ack, kind: fw.Kind})
}

// eventRecord is the record of a forwarded event or link: keyed by the
// key it is processed under, with headers saying its kind, that key and
// where it was consumed. The key's bytes are made once for the record's
// key and its header.
func eventRecord(kind flow.ItemKind, key string, value []byte, topic string, partition int32, offset int64) kafka.Message {
	k := []byte(key)
	return kafka.Message{Key: k, Value: value, Headers: []kafka.Header{
		{Key: HeaderKind, Value: kindValues[kind]},
		{Key: HeaderKey, Value: k},
		{Key: HeaderOriginTopic, Value: []byte(topic)},
		{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(partition), 10)},
		{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, offset, 10)},
	}}
}

// mark produces a mark to home: within markDelay, together with the
// marks the other input partitions send meanwhile, so that kafka-go puts
// the marks to one home into one write batch (it allocates and clears room
// for BatchSize messages per batch, however few it holds). The fetchers of
// a member mark on the same ticks (markDue), but each after the first
// message it fetches past the tick: milliseconds apart, more than the
// Writer's 2 ms BatchTimeout. A mark that finds one of its input partition
// waiting for the same home replaces it: the newer covers more.
//
// A mark written later than it was made still follows every event it
// covers: those were handed to the Writer before it. It returns false when
// the forwarder is closing; a mark queued before Close began is written by
// Close.
func (f *Forwarder) mark(_ context.Context, home int, mr markRecord) bool {
	f.mu.RLock() // Close waits for this, and queues no mark after it began
	defer f.mu.RUnlock()
	if f.closing {
		return false
	}
	f.markMu.Lock()
	defer f.markMu.Unlock()
	for i := range f.marks {
		if m := &f.marks[i]; m.home == home && m.rec.Topic == mr.Topic && m.rec.Partition == mr.Partition {
			m.rec = mr
			return true
		}
	}
	f.marks = append(f.marks, pendingMark{home: home, rec: mr})
	if len(f.marks) == 1 {
		if f.markT == nil {
			f.markT = time.AfterFunc(markDelay, f.flushMarks)
		} else {
			f.markT.Reset(markDelay)
		}
	}
	return true
}

// flushMarks writes the marks waiting (the mark timer's).
func (f *Forwarder) flushMarks() {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.writeMarks()
}

// writeMarks writes the marks waiting, in the order they were first
// queued; the caller holds flushMu. A write waits for a free slot, as a
// send does: slots are freed as Kafka answers or kafka-go gives up.
func (f *Forwarder) writeMarks() {
	f.markMu.Lock()
	marks := f.marks
	f.marks = nil
	f.markMu.Unlock()
	for _, m := range marks {
		v, _ := json.Marshal(m.rec) // a struct of numbers and a string: cannot fail
		rec := kafka.Message{Value: v, Headers: []kafka.Header{{Key: HeaderKind, Value: kindValues[flow.KindMark]}},
			WriterData: &fwdData{home: m.home, kind: flow.KindMark}}
		f.slots <- struct{}{}
		if err := f.write(context.Background(), rec); err != nil {
			<-f.slots
			f.fail(fmt.Errorf("forward to the repartition topic: %w", err))
			return
		}
	}
}

func header(m *kafka.Message, key string) []byte {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
