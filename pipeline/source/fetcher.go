package source

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/source/fetch"
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
// start (negative: the log start) to end (negative: no end). Events whose
// home (route) is elsewhere are forwarded through rt; the others, and what
// the repartition topic brings, go to shards[murmur3(key) % len(shards)]
// in batches (see handOver); watermark marks to every shard. A fetcher of
// the repartition topic with rt.Ends set stops once every input partition has said (a final mark)
// that it forwarded everything before its end.
func (s *Source) NewFetcher(topic string, partition int, start, end int64, t Offsets, shards []chan<- []flow.Item, direct Direct, rt *Routing) *Fetcher {
	f := &Fetcher{src: s, topic: topic, partition: partition, start: start, end: end, tracker: t, shards: shards, direct: direct, rt: rt,
		runCtx: context.Background(), pend: make([][]flow.Item, len(shards)), clock: time.Now}
	if topic == s.Cfg.RepartitionTopic && rt.Ends != nil && end < 0 {
		f.awaiting = map[inputPartition]int64{}
		for in, n := range rt.Inputs {
			for q := range n {
				f.awaiting[inputPartition{in, int32(q)}] = rt.Ends[in][q].End
			}
		}
	}
	return f
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
	shards     []chan<- []flow.Item
	direct     Direct
	rt         *Routing
	reachedEnd bool
	awaiting   map[inputPartition]int64 // repartition, until caught up: input partitions whose final mark is awaited, with the end wanted
	sentLinks  map[string]sentLink      // stitching: per device, the last link copy sent (linkCopy)
	clock      func() time.Time         // time.Now; tests set another

	markMu    sync.Mutex // the marks forwarded: from the fetch loop and idleMarks
	fwdMark   markRecord // the last mark forwarded
	fwdMarkAt time.Time  // and when

	// The items bound for each shard and not handed over yet (see
	// handOver), guarded by pendMu: the fetch loop adds to them; the
	// fetch loop, the flush timer and idleMarks hand them over.
	pendMu   sync.Mutex
	pend     [][]flow.Item // per shard
	npend    int           // items in pend
	routedWm int64         // touchpoint watermark of the events routed; wm once they are all handed over
	flushT   *time.Timer   // hands pend over flushDelay after it stopped being empty
	runCtx   context.Context

	wm       atomic.Int64 // touchpoint watermark sent so far
	lag      atomic.Int64 // messages behind the partition's high watermark
	lastSeen atomic.Int64 // unix nanos of the last fetched message
	next     atomic.Int64 // every message before this offset was routed; negative: not known yet
}

// inputPartition names a partition of an input topic.
type inputPartition struct {
	topic     string
	partition int32
}

func (f *Fetcher) Run(ctx context.Context) {
	cfg := &f.src.Cfg
	if f.end >= 0 && f.start >= f.end {
		f.reachedEnd = true
		if f.topic == cfg.TouchpointsTopic {
			f.markAll(ctx, true)
		}
		if f.forwards() {
			f.finalMarks(ctx)
		}
		return
	}
	f.runCtx = ctx // the flush timer's, set before any item is pending
	defer f.exitFlush(ctx)
	pf := fetch.Start(ctx, fetch.Config{Dialer: f.src.Conn.Dialer(), Brokers: cfg.Brokers, Topic: f.topic, Partition: f.partition, Start: f.start,
		Log: cfg.Logger, Fetches: &f.src.Stats.Fetches, Skipped: &f.src.Stats.Skipped})
	defer pf.Close()
	clock := runClock{clock: f.clock}
	isTP := f.topic == cfg.TouchpointsTopic
	f.next.Store(f.start) // committed: everything before it was routed (forwards are acknowledged before a commit)
	if f.forwards() {
		idleDone := make(chan struct{})
		defer close(idleDone)
		go f.idleMarks(ctx, pf, idleDone)
	}
	sinceMark := 0
	lastMark := time.Now()
	first := true
	for {
		m, newRun, err := pf.Next()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			cfg.Logger.Warn("fetch failed; retrying", "topic", f.topic, "partition", f.partition, "err", err)
			if !f.handOver(ctx) {
				return
			}
			continue // the fetch loop waits before it tries again
		}
		now := clock.at(newRun) // read once per clockEvery messages, for the future check and the marks
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
		if f.topic == cfg.RepartitionTopic {
			if !f.fromRepartition(ctx, &m) {
				return
			}
			f.next.Store(m.Offset + 1)
			if m.Offset+1 >= m.HighWaterMark && !f.handOver(ctx) {
				return
			}
			if f.end >= 0 && m.Offset+1 >= f.end {
				f.reachedEnd = true // a settling round's end (RepartitionEnds)
				return
			}
			if f.awaiting != nil && len(f.awaiting) == 0 {
				f.reachedEnd = true // every input partition forwarded all it had to this home
				return
			}
			continue
		}
		if !f.route(ctx, &m, isTP, now) {
			return
		}
		f.next.Store(m.Offset + 1)
		if m.Offset+1 >= m.HighWaterMark && !f.handOver(ctx) {
			return // the end of the log as the fetch saw it: nothing to wait for
		}
		last := f.end >= 0 && m.Offset+1 >= f.end
		if f.forwards() {
			f.lastSeen.Store(now.UnixNano())
			sinceMark++
			if sinceMark >= markEvery || markDue(lastMark, now) || last {
				f.markAll(ctx, m.Offset+1 >= m.HighWaterMark)
				sinceMark, lastMark = 0, now
			}
		}
		if last {
			f.reachedEnd = true
			if f.forwards() {
				f.finalMarks(ctx)
			}
			return
		}
	}
}

// route decodes m and sends it to its shard, or dead-letters it.
func (f *Fetcher) route(ctx context.Context, m *kafka.Message, isTP bool, now time.Time) bool {
	cfg := &f.src.Cfg
	ack := flow.Ack{To: f.tracker, Offset: m.Offset}
	it := flow.Item{Partition: int32(m.Partition), Ack: ack, Offset: m.Offset, Key: m.Key, Value: m.Value}
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
	switch {
	case isTP:
		it.Kind = flow.KindTouchpoint
	case f.isIdentities():
		it.Kind = flow.KindIdentity
	default:
		it.Kind = flow.KindConversion
	}
	timeMs, err := f.decode(&it)
	if err != nil {
		f.src.Stats.Invalid.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonInvalid, err, err.Error())
	}
	if ref, src, late := f.future(m, timeMs, now); late {
		// Never applied, stored or used for a watermark: one client with a
		// wrong clock must not move its partition's event time.
		f.src.Stats.Future.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonFuture, nil, fmt.Sprintf("timestamp: %s is more than max_future_skew %s after the message was consumed (%s %s)",
			time.UnixMilli(timeMs).UTC().Format(time.RFC3339Nano), cfg.MaxFutureSkew, src, ref.UTC().Format(time.RFC3339Nano)))
	}
	key, home := f.rt.route(&it)
	if it.Kind == flow.KindIdentity {
		f.src.Stats.Identities.Add(1)
		it.UserKey = key
	} else if home != f.partition {
		f.src.misPartitioned(f.topic, f.partition, m.Offset, m.Key, key, home)
	}
	if isTP && timeMs > f.routedWm {
		defer f.routed(timeMs) // after the send (or forward): marks never run ahead of items
	}
	if l, ok := f.linkCopy(&it); ok {
		// The event under its user, its link at its device's home: the
		// offset is durable once both are.
		ack = flow.SplitAck(ack, 2)
		it.Ack = ack
		if !f.sendLink(ctx, m, l, ack) {
			return false
		}
	}
	if !f.rt.direct(f.partition, home) {
		return f.rt.Fwd.forward(ctx, m, it.Kind, key, home, it.Ack)
	}
	it.Partition, it.Origin = int32(home), int32(m.Partition)
	return f.toShard(ctx, key, &it)
}

// sendLink sends link l of the event of m to its anonymous_id's home: to
// this member's shard when that is direct, else through the repartition
// topic. ack is the link's part of the event's split ack.
func (f *Fetcher) sendLink(ctx context.Context, m *kafka.Message, l schemas.Link, ack flow.Ack) bool {
	home := flow.Home(l.AnonymousID, f.rt.Homes)
	if !f.rt.direct(f.partition, home) {
		return f.rt.Fwd.forwardLink(ctx, m, l, home, ack)
	}
	return f.toShard(ctx, l.AnonymousID, &flow.Item{Kind: flow.KindLink, Partition: int32(home), Ack: ack, Origin: int32(m.Partition), Offset: m.Offset,
		Key: m.Key, Value: m.Value, Link: l, UserKey: l.AnonymousID})
}

// Handing items over to the shards in batches. A channel operation per
// item (a lock, a copy of the item, often a wake-up on each side) was
// about 7% of the attributor's CPU on the direct path; the fetcher now
// gathers each shard's items and sends them flow.BatchItems at a time.
// Nothing waits on a batch that is not full for long:
//
//   - the fetch loop hands everything over when the message routed is the
//     last of the log as its fetch saw it (offset + 1 = high watermark): in
//     live traffic, after every fetch;
//   - before every mark (a mark follows the items it covers), before a
//     fetch is retried after an error, and when Run returns;
//   - flushDelay after the first item became pending, whatever the fetch
//     loop does (a fetch that waits for more data, a log whose last
//     records are transaction markers that are never returned).
//
// The touchpoint watermark that marks carry (wm) moves only once every
// item it covers is handed over.

// flushDelay bounds how long an item waits in a fetcher's batch.
const flushDelay = 5 * time.Millisecond

// toShard adds it to the batch of the shard of key; a full batch is
// handed over (blocking while the shard's queue is full).
func (f *Fetcher) toShard(ctx context.Context, key string, it *flow.Item) bool {
	i := murmur3.StringSum32(key) % uint32(len(f.shards))
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	b := f.pend[i]
	if b == nil {
		b = flow.GetItems()
	}
	f.pend[i] = append(b, *it)
	f.npend++
	if f.npend == 1 {
		if f.flushT == nil {
			f.flushT = time.AfterFunc(flushDelay, f.timedFlush)
		} else {
			f.flushT.Reset(flushDelay)
		}
	}
	if len(f.pend[i]) >= flow.BatchItems {
		return f.sendLocked(ctx, int(i))
	}
	return true
}

// routed notes that a touchpoint of time ms was routed (sent to its shard's
// batch, or forwarded): the watermark moves to it now if nothing is
// pending, else when the batches are handed over.
func (f *Fetcher) routed(ms int64) {
	f.pendMu.Lock()
	f.routedWm = max(f.routedWm, ms)
	if f.npend == 0 {
		f.wm.Store(f.routedWm)
	}
	f.pendMu.Unlock()
}

// handOver hands every pending item to its shard.
func (f *Fetcher) handOver(ctx context.Context) bool {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	return f.handOverLocked(ctx)
}

func (f *Fetcher) handOverLocked(ctx context.Context) bool {
	if f.npend > 0 {
		for i := range f.pend {
			if len(f.pend[i]) > 0 && !f.sendLocked(ctx, i) {
				return false
			}
		}
	}
	f.wm.Store(f.routedWm)
	return true
}

// sendLocked hands shard i its pending batch.
func (f *Fetcher) sendLocked(ctx context.Context, i int) bool {
	b := f.pend[i]
	select {
	case f.shards[i] <- b:
		f.pend[i] = nil
		f.npend -= len(b)
		return true
	case <-ctx.Done():
		return false
	}
}

// timedFlush is the flush timer's: it hands over what is pending.
func (f *Fetcher) timedFlush() {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	if f.npend > 0 {
		f.handOverLocked(f.runCtx)
	}
}

// exitFlush hands over what is pending when Run returns: at the end of
// its range it must (the run waits for those items); when ctx ended, what
// the shards' queues take at once, the rest is dropped unacknowledged (its
// offsets stay uncommitted and are consumed again), as an item waiting
// for a full queue always was.
func (f *Fetcher) exitFlush(ctx context.Context) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	if f.flushT != nil {
		f.flushT.Stop()
	}
	if ctx.Err() == nil {
		f.handOverLocked(ctx)
		return
	}
	for i, b := range f.pend {
		if len(b) > 0 {
			select {
			case f.shards[i] <- b:
			default:
			}
		}
		f.pend[i] = nil
	}
	f.npend = 0 // a flush timer that fires now finds nothing
}

// fromRepartition takes a record of the repartition topic: a forwarded
// event goes to its shard as belonging to this home partition; a mark
// goes to every shard (touchpoint marks) and counts towards the end of a
// --until-caught-up run.
func (f *Fetcher) fromRepartition(ctx context.Context, m *kafka.Message) bool {
	cfg := &f.src.Cfg
	ack := flow.Ack{To: f.tracker, Offset: m.Offset}
	home := int32(f.partition)
	kind := string(header(m, HeaderKind))
	if kind == kindMark {
		ack.Done() // nothing is derived from a mark
		var mr markRecord
		if err := json.Unmarshal(m.Value, &mr); err != nil {
			return true // not ours to judge: a mark only ever speeds things up
		}
		if mr.Topic == cfg.TouchpointsTopic {
			mark := flow.Item{Kind: flow.KindMark, Partition: home, Src: mr.Partition, WM: mr.Watermark, CaughtUp: mr.CaughtUp}
			if !f.toAllShards(ctx, mark) {
				return false
			}
		}
		if f.awaiting != nil && mr.End >= 0 {
			k := inputPartition{mr.Topic, mr.Partition}
			if want, ok := f.awaiting[k]; ok && mr.End >= want {
				delete(f.awaiting, k)
			}
		}
		return true
	}
	// Where the event was consumed from, for its dead letters (a move has
	// no origin: the record itself is named).
	origin := *m
	if t := header(m, HeaderOriginTopic); t != nil {
		origin.Topic = string(t)
		op, _ := strconv.Atoi(string(header(m, HeaderOriginPartition)))
		origin.Partition = op
		origin.Offset, _ = strconv.ParseInt(string(header(m, HeaderOriginOffset)), 10, 64)
		origin.Headers = nil
	}
	key := string(header(m, HeaderKey))
	it := flow.Item{Partition: home, Ack: ack, Origin: int32(origin.Partition), Offset: origin.Offset, Key: m.Key, Value: m.Value, UserKey: key}
	var err error
	switch kind {
	case kindTouchpoint:
		it.Kind = flow.KindTouchpoint
		_, err = f.decode(&it)
	case kindConversion:
		it.Kind = flow.KindConversion
		_, err = f.decode(&it)
	case kindIdentity:
		it.Kind = flow.KindIdentity
		_, err = f.decode(&it)
	case kindLink:
		it.Kind = flow.KindLink
		it.Link, err = readLink(m.Value)
	case kindMove:
		it.Kind = flow.KindMove
		it.Move, err = readMove(m.Value)
	default:
		err = fmt.Errorf("%s header %q: not a record the attributor forwards", HeaderKind, kind)
		origin = *m
	}
	if err == nil && key == "" {
		err = fmt.Errorf("%s header: missing: the key a %s record is processed under", HeaderKey, kind)
	}
	if err != nil {
		// Checked before it was forwarded: only a decoder configured
		// otherwise on the forwarding instance, or a record the
		// attributor did not write, gets here.
		f.src.Stats.Invalid.Add(1)
		return f.dead(ctx, &origin, ack, flow.ReasonInvalid, err, err.Error())
	}
	return f.toShard(ctx, key, &it)
}

// decode decodes it.Value as an event of it.Kind (a touchpoint, a
// conversion or an identity event, whose link it keeps) into it, and
// returns the event's time.
func (f *Fetcher) decode(it *flow.Item) (timeMs int64, err error) {
	switch it.Kind {
	case flow.KindTouchpoint:
		it.TP, err = f.src.Dec.Touchpoint(it.Value)
		return it.TP.TimeMs, err
	case flow.KindIdentity:
		var id schemas.Identity
		id, err = f.src.Dec.Identity(it.Value)
		it.Link = id.Link()
		return id.TimeMs, err
	default:
		it.CV, err = f.src.Dec.Conversion(it.Value)
		return it.CV.TimeMs, err
	}
}

// toAllShards sends it (a mark) to every shard, after every item pending.
func (f *Fetcher) toAllShards(ctx context.Context, it flow.Item) bool {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	if !f.handOverLocked(ctx) {
		return false
	}
	for _, s := range f.shards {
		select {
		case s <- []flow.Item{it}:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// A fetcher of an input topic sends its marks (markAll) every
// markInterval, or sooner after markEvery messages, and at its end. Each
// mark goes to every other home as a record of the repartition topic, so
// in a backlog the count decides how many records Kafka takes that carry
// no event: with 4 homes, a mark every 256 messages was 3 records per 256
// events on the direct path, most in a write batch of their own (kafka-go
// allocates room for BatchSize messages per batch: 300 KB, 18% of all the
// bytes the attributor allocated in a 1M-event backlog). At the rate of a backlog
// (tens of thousands of messages per second and partition) the interval
// comes first; live traffic slower than markEvery per markInterval is
// marked by time, as before.
//
// The interval is counted in ticks of the wall clock (markDue), not from
// each fetcher's own last mark: every fetcher of a member then marks just
// after the same instants, and kafka-go puts the marks to one home sent
// within its BatchTimeout into one write batch. Counted per fetcher, live
// traffic's marks fell at every phase of the interval, each mark in a
// write batch of its own: about 480 batches per second with 4 homes and
// two input topics, which were 9% of the attributor's CPU in live
// streaming (docs/BENCHMARKS.md, "The attributor's CPU in live streaming").
const (
	markInterval = 50 * time.Millisecond
	markEvery    = 4096
)

// markDue says whether a fetcher whose last timed mark was at last is due
// to mark at now: now is in a later markInterval tick of the wall clock.
func markDue(last, now time.Time) bool {
	return now.UnixNano()/int64(markInterval) != last.UnixNano()/int64(markInterval)
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

// future says whether an event of time timeMs, consumed in m, is more
// than MaxFutureSkew after its reference time (futureRef), which it
// returns. now is the clock as Run last read it (runClock), up to
// clockEvery messages ago: a stale now is earlier, so it can only make
// the check fail, never pass; a failing check is made again against the
// clock read afresh, so that no event is dead-lettered for a stale now.
func (f *Fetcher) future(m *kafka.Message, timeMs int64, now time.Time) (ref time.Time, src string, late bool) {
	skew := f.src.Cfg.MaxFutureSkew.Milliseconds()
	if ref, src = futureRef(m.Time, now); timeMs <= ref.UnixMilli()+skew {
		return ref, src, false
	}
	ref, src = futureRef(m.Time, f.clock())
	return ref, src, timeMs > ref.UnixMilli()+skew
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

// markAll tells every home how far this input partition got: the
// touchpoint watermark to this member's shards directly when the partition
// is a home of this member (its direct events went to them); and to every
// other home through the repartition topic, after the events forwarded
// there, the watermark (touchpoints) and the offset before which every
// message was routed (both topics: a --until-caught-up member's homes stop
// once it passes their end, whoever owns the input partition). A
// forwarded mark that says nothing new is sent at most every second.
func (f *Fetcher) markAll(ctx context.Context, caughtUp bool) {
	if !f.handOver(ctx) {
		return
	}
	wm := f.wm.Load()
	p := f.partition
	if f.topic == f.src.Cfg.TouchpointsTopic && f.rt.direct(p, p) {
		if !f.toAllShards(ctx, flow.Item{Kind: flow.KindMark, Partition: int32(p), Src: int32(p), WM: wm, CaughtUp: caughtUp}) {
			return
		}
	}
	f.markMu.Lock()
	defer f.markMu.Unlock()
	now := time.Now()
	mr := markRecord{Topic: f.topic, Partition: int32(p), Watermark: wm, CaughtUp: caughtUp, End: f.next.Load()}
	if mr == f.fwdMark && now.Sub(f.fwdMarkAt) < time.Second {
		return
	}
	f.fwdMark, f.fwdMarkAt = mr, now
	for h := range f.rt.Homes {
		if f.rt.direct(p, h) {
			continue
		}
		if !f.rt.Fwd.mark(ctx, h, mr) {
			return
		}
	}
}

// finalMarks tells every home, through the repartition topic, that this
// input partition forwarded everything before its end offset: a
// --until-caught-up run's repartition fetchers stop once every input
// partition said so.
func (f *Fetcher) finalMarks(ctx context.Context) {
	if !f.handOver(ctx) {
		return
	}
	mr := markRecord{Topic: f.topic, Partition: int32(f.partition), Watermark: f.wm.Load(), CaughtUp: true, End: f.end}
	for h := range f.rt.Homes {
		if !f.rt.Fwd.mark(ctx, h, mr) {
			return
		}
	}
}

// idleMarks keeps the watermark of an idle partition useful: when nothing
// was fetched for a while, it tells the shards whether the partition is at
// the end of its log, so that conversions need not wait for touchpoints
// that are not coming. The end of the log is as the last fetch saw it;
// before any fetch succeeded, the partition is not said to be at its end.
func (f *Fetcher) idleMarks(ctx context.Context, pf *fetch.Loop, done chan struct{}) {
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
			lag, known := pf.Lag()
			f.markAll(ctx, known && lag <= 0)
		}
	}
}
