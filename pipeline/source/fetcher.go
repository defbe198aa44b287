package source

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// Direct takes the units a fetcher makes that need no shard (dead letters
// and spend) to the sink. Send blocks while the sink is full and returns
// false when ctx is done first; the sink owns u once Send returns true.
type Direct interface {
	Send(ctx context.Context, u *flow.Unit) bool
}

// DirectFunc adapts a function to Direct.
type DirectFunc func(ctx context.Context, u *flow.Unit) bool

// Send calls f.
func (f DirectFunc) Send(ctx context.Context, u *flow.Unit) bool { return f(ctx, u) }

// Offsets records each offset a fetcher fetched, to be committed once its
// ack fires (checkpoint.Tracker).
type Offsets interface {
	flow.Acker
	Add(offset int64)
}

// NewFetcher returns the fetcher of one assigned partition, from offset
// start (negative: the log start) to end (negative: no end). Its items go
// to shards[murmur3(key) % len(shards)]; its watermark marks to every
// shard.
func (s *Source) NewFetcher(topic string, partition int, start, end int64, t Offsets, shards []chan<- flow.Item, direct Direct) *Fetcher {
	return &Fetcher{src: s, topic: topic, partition: partition, start: start, end: end, tracker: t, shards: shards, direct: direct}
}

// Topic is the fetcher's topic.
func (f *Fetcher) Topic() string { return f.topic }

// ReachedEnd says whether Run returned at the partition's end offset.
func (f *Fetcher) ReachedEnd() bool { return f.reachedEnd }

// Lag is how many messages the fetcher is behind its partition's high
// watermark.
func (f *Fetcher) Lag() int64 { return f.lag.Load() }

// Watermark is the touchpoint watermark (unix ms) sent so far; 0 for the
// other topics.
func (f *Fetcher) Watermark() int64 { return f.wm.Load() }

// Fetcher reads one partition and routes its events to the shards.
type Fetcher struct {
	src        *Source
	topic      string
	partition  int
	start, end int64
	tracker    Offsets
	shards     []chan<- flow.Item
	direct     Direct
	reachedEnd bool

	wm       atomic.Int64 // touchpoint watermark sent so far
	lag      atomic.Int64 // messages behind the partition's high watermark
	lastSeen atomic.Int64 // unix nanos of the last fetched message
}

func (f *Fetcher) Run(ctx context.Context) {
	if f.end >= 0 && f.start >= f.end {
		f.reachedEnd = true
		f.markAll(ctx, true)
		return
	}
	cfg := &f.src.Cfg
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         cfg.Brokers,
		Topic:           f.topic,
		Partition:       f.partition,
		MinBytes:        1,
		MaxBytes:        32 << 20,
		MaxWait:         100 * time.Millisecond,
		QueueCapacity:   1024,
		ReadLagInterval: -1,
		Dialer:          f.src.Conn.Dialer(),
	})
	defer rd.Close()
	if f.start >= 0 {
		rd.SetOffset(f.start)
	} else {
		rd.SetOffset(kafka.FirstOffset)
	}
	isTP := f.topic == cfg.TouchpointsTopic
	if isTP {
		idleDone := make(chan struct{})
		defer close(idleDone)
		go f.idleMarks(ctx, rd, idleDone)
	}
	sinceMark := 0
	lastMark := time.Now()
	first := true
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			cfg.Logger.Warn("fetch failed; retrying", "topic", f.topic, "partition", f.partition, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if first && f.start >= 0 && m.Offset > f.start {
			// The log no longer holds what the group had not committed:
			// retention deleted it before it was consumed. Say so loudly;
			// those events cannot be attributed.
			f.src.Stats.Skipped.Add(m.Offset - f.start)
			cfg.Logger.Error("uncommitted messages were deleted by retention before they were consumed",
				"topic", f.topic, "partition", f.partition, "committed", f.start, "first_available", m.Offset, "lost", m.Offset-f.start)
		}
		first = false
		f.tracker.Add(m.Offset)
		f.lag.Store(max(0, m.HighWaterMark-m.Offset-1))
		now := time.Now() // once per message: the future check and the marks
		if !f.route(ctx, &m, isTP, now) {
			return
		}
		last := f.end >= 0 && m.Offset+1 >= f.end
		if isTP {
			f.lastSeen.Store(now.UnixNano())
			sinceMark++
			if sinceMark >= 256 || now.Sub(lastMark) > 50*time.Millisecond || last {
				f.markAll(ctx, m.Offset+1 >= m.HighWaterMark)
				sinceMark, lastMark = 0, now
			}
		}
		if last {
			f.reachedEnd = true
			return
		}
	}
}

// route decodes m and sends it to its shard, or dead-letters it.
func (f *Fetcher) route(ctx context.Context, m *kafka.Message, isTP bool, now time.Time) bool {
	cfg := &f.src.Cfg
	ack := flow.Ack{To: f.tracker, Offset: m.Offset}
	it := flow.Item{Partition: int32(m.Partition), Ack: ack, Offset: m.Offset, Key: m.Key, Value: m.Value}
	var err error
	var key string
	if n := flow.MessageBytes(m); n > cfg.MaxMessageBytes {
		f.src.Stats.Invalid.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonOversize, nil, fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d (key %d, value %d, headers %d)",
			n, cfg.MaxMessageBytes, len(m.Key), len(m.Value), flow.HeadersBytes(m.Headers)))
	}
	if f.topic == cfg.SpendTopic {
		sp, err := f.src.Dec.AdSpend(m.Value)
		if err != nil {
			f.src.Stats.Invalid.Add(1)
			return f.dead(ctx, m, ack, flow.ReasonInvalid, err, err.Error())
		}
		f.src.Stats.Spend.Add(1)
		return f.send(ctx, &flow.Unit{Spend: []schemas.AdSpend{sp}, Acks: []flow.Ack{ack}})
	}
	var timeMs int64
	if isTP {
		it.Kind = flow.KindTouchpoint
		if it.TP, err = f.src.Dec.Touchpoint(m.Value); err == nil {
			key, timeMs = it.TP.Key(), it.TP.TimeMs
		}
	} else {
		it.Kind = flow.KindConversion
		if it.CV, err = f.src.Dec.Conversion(m.Value); err == nil {
			key, timeMs = it.CV.Key(), it.CV.TimeMs
		}
	}
	if err != nil {
		f.src.Stats.Invalid.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonInvalid, err, err.Error())
	}
	if ref, src := futureRef(m.Time, now); timeMs > ref.UnixMilli()+cfg.MaxFutureSkew.Milliseconds() {
		// Never applied, stored or used for a watermark: one client with a
		// wrong clock must not move its partition's event time.
		f.src.Stats.Future.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonFuture, nil, fmt.Sprintf("timestamp: %s is more than max_future_skew %s after the message was consumed (%s %s)",
			time.UnixMilli(timeMs).UTC().Format(time.RFC3339Nano), cfg.MaxFutureSkew, src, ref.UTC().Format(time.RFC3339Nano)))
	}
	if want := keyPartition(key, f.src.Parts); want != f.partition {
		f.src.misPartitioned(f.topic, f.partition, m.Offset, m.Key, key, want)
	}
	if isTP && timeMs > f.wm.Load() {
		defer f.wm.Store(timeMs) // after the send: marks never run ahead of items
	}
	s := f.shards[murmur3.StringSum32(key)%uint32(len(f.shards))]
	select {
	case s <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// minBrokerTime is the earliest broker timestamp taken as set: the event
// contract starts in 2000, and clients that set none send 0 or -1.
var minBrokerTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// futureRef is the time an event is judged against for being in the
// future: when its message entered the log, which the broker timestamp
// says (LogAppendTime, or the producer's CreateTime), so that the same
// message gets the same verdict whether it is consumed live or days later
// from a backlog; the wall clock when the message has no timestamp, or one
// later than the wall clock: a producer can set CreateTime, and a future
// one must not widen what is accepted. src names the reference taken.
func futureRef(broker, now time.Time) (ref time.Time, src string) {
	if broker.Before(minBrokerTime) || broker.After(now) {
		return now, "wall clock"
	}
	return broker, "broker timestamp"
}

// dead dead-letters m, counting and (the first few of each reason) logging
// the rejection; err, when set, is the decoding error whose field refines
// the reason.
func (f *Fetcher) dead(ctx context.Context, m *kafka.Message, ack flow.Ack, reason string, err error, msg string) bool {
	msg = schemas.SafeText(msg)
	f.src.Stats.Rejected.Record(flow.RejectionReason(reason, err), m.Topic, m.Partition, m.Offset, msg)
	return f.send(ctx, &flow.Unit{Dead: []flow.DeadLetter{{Msg: *m, Reason: reason, Err: msg}}, Acks: []flow.Ack{ack}})
}

// send hands a unit that needs no shard straight to the sink.
func (f *Fetcher) send(ctx context.Context, u *flow.Unit) bool {
	return f.direct.Send(ctx, u)
}

// markAll tells every shard how far the touchpoints of this partition got.
func (f *Fetcher) markAll(ctx context.Context, caughtUp bool) {
	mark := flow.Item{Kind: flow.KindMark, Partition: int32(f.partition), WM: f.wm.Load(), CaughtUp: caughtUp}
	for _, s := range f.shards {
		select {
		case s <- mark:
		case <-ctx.Done():
			return
		}
	}
}

// idleMarks keeps the watermark of an idle partition useful: when nothing
// was fetched for a while, it tells the shards whether the partition is at
// the end of its log, so that conversions need not wait for touchpoints
// that are not coming.
func (f *Fetcher) idleMarks(ctx context.Context, rd *kafka.Reader, done chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
			if time.Since(time.Unix(0, f.lastSeen.Load())) < 100*time.Millisecond {
				continue
			}
			f.markAll(ctx, rd.Lag() <= 0)
		}
	}
}
