package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

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
)

// deadLetter is an unusable message bound for the dead-letter topic with
// the reason and the place it came from.
type deadLetter struct {
	msg    kafka.Message
	reason string
	err    string
}

// unit is everything derived from some messages: rows for the three tables,
// dead letters, and the acknowledgements to fire once all are durable.
// A message's derived output always travels in exactly one unit.
type unit struct {
	tps     []tpRow
	convs   []convRow
	credits []creditRow
	spend   []schemas.AdSpend
	dead    []deadLetter
	acks    []ackRef
}

func (u *unit) rows() int {
	return len(u.tps) + len(u.convs) + len(u.credits) + len(u.spend) + len(u.dead)
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
// the units' acks. While it retries it stops reading its input, so a slow or
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
	onFlush   func(rows int, d time.Duration, err error)

	acked []atomic.Uint64 // per shard: highest sequence number durable

	// pending batch
	tps      []tpRow
	convs    []convRow
	credits  []creditRow
	spend    []schemas.AdSpend
	dead     []deadLetter
	acks     []ackRef
	seqs     map[int]uint64
	deadSent bool
}

func newSink(conn driver.Conn, db string, dlq *kafka.Writer, shards int, cfg *Config, st *stats) *sink {
	return &sink{
		conn: conn, db: db, dlq: dlq,
		in:        make(chan sinkMsg, 4*shards+16),
		flushRows: cfg.FlushRows, interval: cfg.FlushInterval,
		stats: st, log: cfg.Logger,
		acked: make([]atomic.Uint64, shards),
		seqs:  map[int]uint64{},
	}
}

func (s *sink) size() int {
	return len(s.tps) + len(s.convs) + len(s.credits) + len(s.spend) + len(s.dead)
}

// run consumes units until ctx ends. Rows not yet durable when ctx ends are
// dropped unacknowledged: their offsets stay uncommitted and they are
// consumed again by whoever owns the partition next.
func (s *sink) run(ctx context.Context) {
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.in:
			if m.barrier != nil {
				m.barrier <- s.flush(ctx)
				continue
			}
			u := m.u
			s.tps = append(s.tps, u.tps...)
			s.convs = append(s.convs, u.convs...)
			s.credits = append(s.credits, u.credits...)
			s.spend = append(s.spend, u.spend...)
			s.dead = append(s.dead, u.dead...)
			s.acks = append(s.acks, u.acks...)
			if m.seq > s.seqs[m.shard] {
				s.seqs[m.shard] = m.seq
			}
			if s.size() >= s.flushRows {
				s.flush(ctx)
				resetTimer(timer, s.interval)
			}
		case <-timer.C:
			s.flush(ctx)
			timer.Reset(s.interval)
		}
	}
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

// flush writes the pending batch, retrying until it succeeds or ctx ends.
func (s *sink) flush(ctx context.Context) error {
	if s.size() == 0 && len(s.acks) == 0 {
		return nil
	}
	ctx, span := tracer.Start(ctx, "attributor.sink.flush", trace.WithAttributes(
		attribute.Int("attributor.rows.raw", len(s.tps)+len(s.convs)),
		attribute.Int("attributor.rows.credited", len(s.credits)),
		attribute.Int("attributor.dead_letters", len(s.dead)),
		attribute.Int("attributor.messages", len(s.acks))))
	defer span.End()
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := s.write(ctx)
		if s.onFlush != nil {
			s.onFlush(s.size(), time.Since(start), err)
		}
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
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	s.stats.rawRows.Add(int64(len(s.tps) + len(s.convs) + len(s.spend)))
	s.stats.creditedRows.Add(int64(len(s.credits)))
	s.stats.deadLetters.Add(int64(len(s.dead)))
	for _, a := range s.acks {
		a.done()
	}
	for sh, seq := range s.seqs {
		s.acked[sh].Store(seq)
	}
	clear(s.tps)
	clear(s.convs)
	clear(s.credits)
	clear(s.spend)
	clear(s.dead)
	s.tps, s.convs, s.credits, s.spend, s.dead, s.acks = s.tps[:0], s.convs[:0], s.credits[:0], s.spend[:0], s.dead[:0], s.acks[:0]
	s.deadSent = false
	return nil
}

func (s *sink) write(ctx context.Context) error {
	if len(s.dead) > 0 && !s.deadSent {
		if err := s.writeDead(ctx); err != nil {
			return err
		}
		s.deadSent = true
	}
	if err := insertSpend(ctx, s.conn, s.db, s.spend, "topic"); err != nil {
		return err
	}
	return insertRows(ctx, s.conn, s.db, s.tps, s.convs, s.credits)
}

// writeDead produces the dead letters with acknowledged writes. A record too
// large for the topic is sent again truncated, with its original size in a
// header, rather than lost.
func (s *sink) writeDead(ctx context.Context) error {
	msgs := make([]kafka.Message, len(s.dead))
	for i, d := range s.dead {
		msgs[i] = deadMessage(d, -1)
	}
	err := s.dlq.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var tooLarge kafka.MessageTooLargeError
	var werrs kafka.WriteErrors
	if !errors.As(err, &tooLarge) && !errors.As(err, &werrs) {
		return err
	}
	// Retry one by one, truncating what is too large.
	for _, d := range s.dead {
		m := deadMessage(d, -1)
		err := s.dlq.WriteMessages(ctx, m)
		if errors.As(err, &tooLarge) || errors.Is(err, kafka.MessageSizeTooLarge) {
			err = s.dlq.WriteMessages(ctx, deadMessage(d, 64<<10))
		}
		if err != nil {
			return err
		}
	}
	return nil
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
