package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// ackRef marks one fetched message durable once its unit is written.
type ackRef struct {
	t      *offsetTracker
	offset int64
}

func (a ackRef) done() {
	if a.t != nil {
		a.t.done(a.offset)
	}
}

// Dead-letter reasons, in the "attributor.reason" header.
const (
	reasonInvalid  = "invalid"
	reasonOversize = "oversize"
	reasonTooLate  = "too_late"
	reasonFuture   = "future" // stamped beyond MaxFutureSkew after its consumption
)

// deadLetter is an unusable message bound for the dead-letter topic with
// the reason and the place it came from.
type deadLetter struct {
	msg    kafka.Message
	reason string
	err    string
}

// unit is everything derived from some messages: rows for the tables, dead
// letters, and the acknowledgements to fire once all are durable. A
// message's derived output always travels in exactly one unit.
type unit struct {
	tps     []tpRow
	convs   []convRow
	credits credits
	spend   []schemas.AdSpend
	dead    []deadLetter
	acks    []ackRef
}

// credits are credited rows in the shape the shards make them: a
// conversion's fields once per credited set, its path's touchpoints once,
// and a small pointer-free cell per row. insertCredits spreads them into
// the table's columns. Rows held this way cost a tenth of the memory of
// flat rows (which repeat eleven strings each) and give the garbage
// collector nothing to scan per row.
type credits struct {
	models []string // the run's models; creditCell.model indexes them
	sets   []creditSet
	path   []attribution.Touchpoint
	cells  []creditCell
}

// creditSet is one conversion's credited rows under one version.
type creditSet struct {
	conversionID, conversionType, userKey, currency string
	timeMs                                          int64
	version                                         uint32
	path, pathLen                                   uint32 // its touchpoints: credits.path[path : path+pathLen]
	cells, cellsLen                                 uint32 // its rows: credits.cells[cells : cells+cellsLen]
}

// creditCell is one credited row of a set.
type creditCell struct {
	fraction float64
	revenue  int64
	position uint32 // 1-based in the set's path; 0 is the unattributed row
	model    uint16 // index into the run's models
}

func (c *credits) rows() int { return len(c.cells) }

func (c *credits) reset() {
	clear(c.sets)
	clear(c.path)
	c.sets, c.path, c.cells = c.sets[:0], c.path[:0], c.cells[:0]
}

// unitPool recycles units once their rows are written, so that shards do
// not grow fresh slices per unit.
var unitPool = sync.Pool{New: func() any { return &unit{} }}

func getUnit() *unit { return unitPool.Get().(*unit) }

func putUnit(u *unit) {
	u.reset()
	unitPool.Put(u)
}

// reset empties u, keeping its capacity.
func (u *unit) reset() {
	clear(u.tps)
	clear(u.convs)
	u.credits.reset()
	clear(u.spend)
	clear(u.dead)
	clear(u.acks)
	u.tps, u.convs, u.spend, u.dead, u.acks = u.tps[:0], u.convs[:0], u.spend[:0], u.dead[:0], u.acks[:0]
}

func (u *unit) rows() int {
	return len(u.tps) + len(u.convs) + u.credits.rows() + len(u.spend) + len(u.dead)
}
func (u *unit) empty() bool {
	return u.rows() == 0 && len(u.acks) == 0
}

// sinkMsg is a unit from a shard (with the shard's sequence number, so that
// the shard knows when its rows are durable) or a barrier: when the sink
// reaches a barrier, everything sent before it is durable.
type sinkMsg struct {
	u       *unit
	shard   int
	seq     uint64
	barrier chan error
}

// sink batches units and writes them to ClickHouse (and dead letters to
// Kafka), retrying with backoff until they are acknowledged; then it fires
// the units' acks. Up to `writers` batches are written at once, so that
// building the next batch overlaps the insert of the previous one. When
// every writer is busy retrying, the sink stops reading its input: a slow or
// absent ClickHouse blocks the shards and, through them, the fetchers.
type sink struct {
	conn      driver.Conn
	db        string
	dlq       *kafka.Writer
	in        chan sinkMsg
	flushRows int
	interval  time.Duration
	stats     *stats
	log       *slog.Logger

	acked []atomic.Uint64 // per shard: highest unit sequence number durable

	cur     *batch      // being filled
	free    chan *batch // written batches, for reuse
	writes  chan *batch // to the writers
	writers sync.WaitGroup

	// Completion in batch order, so that acked only ever covers a prefix.
	mu       sync.Mutex
	nextID   uint64            // id of the next batch handed out
	doneUpTo uint64            // batches with id < doneUpTo are durable
	finished map[uint64]*batch // durable, waiting for earlier batches
	inflight sync.WaitGroup
}

// batch is what one insert writes: the rows of many units. It holds the
// units themselves, not copies of their rows; they go back to the pool once
// the batch is durable.
type batch struct {
	units    []*unit
	rows     int
	acks     int
	id       uint64
	seqs     map[int]uint64 // per shard: the latest unit sequence number in it
	deadSent bool
}

func (b *batch) add(u *unit) {
	b.units = append(b.units, u)
	b.rows += u.rows()
	b.acks += len(u.acks)
}

func (b *batch) size() int   { return b.rows }
func (b *batch) empty() bool { return b.rows == 0 && b.acks == 0 }

// counts returns the rows of b per kind.
func (b *batch) counts() (raw, credited, dead int) {
	for _, u := range b.units {
		raw += len(u.tps) + len(u.convs) + len(u.spend)
		credited += u.credits.rows()
		dead += len(u.dead)
	}
	return raw, credited, dead
}

const sinkWriters = 2

func newSink(conn driver.Conn, db string, dlq *kafka.Writer, shards int, cfg *Config, st *stats) *sink {
	return &sink{
		conn: conn, db: db, dlq: dlq,
		in:        make(chan sinkMsg, 4*shards+16),
		flushRows: cfg.FlushRows, interval: cfg.FlushInterval,
		stats: st, log: cfg.Logger,
		acked:    make([]atomic.Uint64, shards),
		cur:      &batch{seqs: map[int]uint64{}},
		free:     make(chan *batch, sinkWriters+1),
		writes:   make(chan *batch),
		finished: map[uint64]*batch{},
	}
}

// run consumes units until ctx ends. Rows not yet durable when ctx ends are
// dropped unacknowledged: their offsets stay uncommitted and they are
// consumed again by whoever owns the partition next.
func (s *sink) run(ctx context.Context) {
	for range sinkWriters {
		s.writers.Add(1)
		go func() {
			defer s.writers.Done()
			cols := &insertColumns{} // this writer's column buffers, reused batch after batch
			for b := range s.writes {
				if s.write(ctx, b, cols) {
					s.complete(b)
				}
				s.inflight.Done()
			}
		}()
	}
	defer func() {
		close(s.writes)
		s.writers.Wait()
	}()
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.in:
			if m.barrier != nil {
				if !s.handOff(ctx) {
					return
				}
				s.inflight.Wait()
				m.barrier <- ctx.Err()
				continue
			}
			b := s.cur
			b.add(m.u)
			if m.shard >= 0 && m.seq > b.seqs[m.shard] {
				b.seqs[m.shard] = m.seq
			}
			if b.size() >= s.flushRows {
				if !s.handOff(ctx) {
					return
				}
				resetTimer(timer, s.interval)
			}
		case <-timer.C:
			if !s.handOff(ctx) {
				return
			}
			timer.Reset(s.interval)
		}
	}
}

// handOff gives the current batch to a writer, waiting for a free one.
func (s *sink) handOff(ctx context.Context) bool {
	b := s.cur
	if b.empty() {
		return true
	}
	s.mu.Lock()
	b.id = s.nextID
	s.nextID++
	s.mu.Unlock()
	s.inflight.Add(1)
	select {
	case s.writes <- b:
	case <-ctx.Done():
		s.inflight.Done()
		return false
	}
	select {
	case s.cur = <-s.free:
	default:
		s.cur = &batch{seqs: map[int]uint64{}}
	}
	return true
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// write writes b, retrying until it succeeds (true) or ctx ends (false).
func (s *sink) write(ctx context.Context, b *batch, cols *insertColumns) bool {
	raw, credited, dead := b.counts()
	ctx, span := tracer.Start(ctx, "attributor.sink.flush", trace.WithAttributes(
		attribute.Int("attributor.rows.raw", raw),
		attribute.Int("attributor.rows.credited", credited),
		attribute.Int("attributor.dead_letters", dead),
		attribute.Int("attributor.messages", b.acks)))
	defer span.End()
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := s.writeOnce(ctx, b, cols)
		if err == nil {
			s.stats.lastInsertNanos.Store(int64(time.Since(start)))
			s.stats.insertBatches.Add(1)
			break
		}
		s.stats.insertErrors.Add(1)
		span.RecordError(err)
		s.log.Warn("sink write failed; retrying", "attempt", attempt+1, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	s.stats.rawRows.Add(int64(raw))
	s.stats.creditedRows.Add(int64(credited))
	s.stats.deadLetters.Add(int64(dead))
	for _, u := range b.units {
		for _, a := range u.acks {
			a.done()
		}
	}
	return true
}

// complete records b as durable and advances the per-shard acknowledged
// sequence numbers over the longest prefix of durable batches.
func (s *sink) complete(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished[b.id] = b
	for {
		d, ok := s.finished[s.doneUpTo]
		if !ok {
			return
		}
		delete(s.finished, s.doneUpTo)
		s.doneUpTo++
		for sh, seq := range d.seqs {
			if seq > s.acked[sh].Load() {
				s.acked[sh].Store(seq)
			}
		}
		d.reset()
		select {
		case s.free <- d:
		default:
		}
	}
}

// reset empties b for reuse and gives its units back to the pool.
func (b *batch) reset() {
	for _, u := range b.units {
		putUnit(u)
	}
	clear(b.units)
	b.units, b.rows, b.acks = b.units[:0], 0, 0
	clear(b.seqs)
	b.deadSent = false
}

// writeOnce writes the dead letters (once), then the three tables at once.
func (s *sink) writeOnce(ctx context.Context, b *batch, cols *insertColumns) error {
	if !b.deadSent {
		var dead []deadLetter
		for _, u := range b.units {
			dead = append(dead, u.dead...)
		}
		if len(dead) > 0 {
			if err := s.writeDead(ctx, dead); err != nil {
				return err
			}
		}
		b.deadSent = true
	}
	return insertRows(ctx, s.conn, s.db, b.units, cols)
}

// writeDead produces the dead letters with acknowledged writes. A record too
// large for the topic is sent again truncated, with its original size in a
// header, rather than lost.
func (s *sink) writeDead(ctx context.Context, dead []deadLetter) error {
	msgs := make([]kafka.Message, len(dead))
	for i, d := range dead {
		msgs[i] = deadMessage(d, -1)
	}
	err := s.dlq.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if !tooLarge(err) && !errors.As(err, &werrs) {
		return err
	}
	// Retry one by one, truncating what is too large.
	for _, d := range dead {
		err := s.dlq.WriteMessages(ctx, deadMessage(d, -1))
		if tooLarge(err) {
			err = s.dlq.WriteMessages(ctx, deadMessage(d, 64<<10))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// tooLarge reports whether a write failed because a message is larger than
// the writer (MessageTooLargeError) or the topic (MESSAGE_TOO_LARGE) takes.
func tooLarge(err error) bool {
	if err == nil {
		return false
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && !tooLarge(e) {
				return false
			}
		}
		return werrs.Count() > 0
	}
	var mtl kafka.MessageTooLargeError
	return errors.As(err, &mtl) || errors.Is(err, kafka.MessageSizeTooLarge)
}

func deadMessage(d deadLetter, truncate int) kafka.Message {
	value := d.msg.Value
	headers := []kafka.Header{
		{Key: "attributor.reason", Value: []byte(d.reason)},
		{Key: "attributor.error", Value: []byte(d.err)},
		{Key: "attributor.source_topic", Value: []byte(d.msg.Topic)},
		{Key: "attributor.source_partition", Value: []byte(strconv.Itoa(d.msg.Partition))},
		{Key: "attributor.source_offset", Value: []byte(strconv.FormatInt(d.msg.Offset, 10))},
	}
	if !d.msg.Time.IsZero() {
		headers = append(headers, kafka.Header{Key: "attributor.source_timestamp", Value: []byte(d.msg.Time.UTC().Format(time.RFC3339Nano))})
	}
	if truncate >= 0 && len(value) > truncate {
		headers = append(headers, kafka.Header{Key: "attributor.truncated_from", Value: []byte(strconv.Itoa(len(value)))})
		value = value[:truncate]
	}
	headers = append(headers, d.msg.Headers...)
	return kafka.Message{Key: d.msg.Key, Value: value, Headers: headers}
}
