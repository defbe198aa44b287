package sink

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
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// sinkMsg is a unit from a shard (with the shard's sequence number, so that
// the shard knows when its rows are durable) or a barrier: when the sink
// reaches a barrier, everything sent before it is durable.
type Msg struct {
	U       *flow.Unit
	Shard   int
	Seq     uint64
	Barrier chan error
}

// sink batches units and writes them to ClickHouse (and dead letters to
// Kafka), retrying with backoff until they are acknowledged; then it fires
// the units' acks. Up to `writers` batches are written at once, so that
// building the next batch overlaps the insert of the previous one. When
// every writer is busy retrying, the sink stops reading its input: a slow or
// absent ClickHouse blocks the shards and, through them, the fetchers.
type Sink struct {
	conn      driver.Conn
	db        string
	dlq       MessageWriter
	DeadMax   int // largest dead-letter record the topic takes, in bytes
	In        chan Msg
	flushRows int
	interval  time.Duration
	// While the input is behind (lag() >= flushRows), batches grow to
	// backlogRows or backlogWait; see Config.
	backlogRows int
	backlogWait time.Duration
	// The raw rows (every table but attributed_conversions) and the marks
	// of batches whose credited rows are written wait for rawWait, then
	// go out together; see Config.
	rawWait time.Duration
	lag     func() int64
	behind  bool // see limits; Run's goroutine only
	stats   *flow.Stats
	log     *slog.Logger
	// insert writes units' rows into one table (insertRows; a fake in
	// unit tests).
	insert func(ctx context.Context, table string, units []*flow.Unit, cols *insertColumns) error
	stop   context.CancelCauseFunc // ends Run with an *UnusableError

	acked []atomic.Uint64 // per shard: highest unit sequence number durable

	cur     *batch      // being filled
	free    chan *batch // written batches, for reuse
	writes  chan *batch // to the writers
	raws    chan *batch // credited rows written; to the raw writer
	writers sync.WaitGroup
	// urgent counts the barriers waiting: the raw writer then writes what
	// it holds at once (wake tells it), instead of after rawWait.
	urgent atomic.Int32
	wake   chan struct{}
	// credBusy counts the live credited inserts in flight; credDone
	// tells Run that one ended. A live batch due while one is in flight
	// waits for it (up to holdMax old), see Config.
	credBusy atomic.Int32
	credDone chan struct{}
	holdMax  time.Duration
	holding  bool // Run's goroutine only: the current batch is due, waiting for credDone

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
	units    []*flow.Unit
	rows     int
	acks     int
	opened   time.Time // when its first unit came
	id       uint64
	seqs     map[int]uint64 // per shard: the latest unit sequence number in it
	deadSent bool
	behind   bool // filled while the input was behind: written in one step (writeAll)
}

func (b *batch) add(u *flow.Unit) {
	if len(b.units) == 0 {
		b.opened = time.Now()
	}
	b.units = append(b.units, u)
	b.rows += u.Rows()
	b.acks += len(u.Acks)
}

func (b *batch) size() int   { return b.rows }
func (b *batch) empty() bool { return b.rows == 0 && b.acks == 0 }

// counts returns the rows of b per kind: raw rows in the tables of the
// second step (rawTables), conversions, credited rows and dead letters.
func (b *batch) counts() (raw, convs, credited, dead int) {
	for _, u := range b.units {
		raw += rawRows(u)
		convs += len(u.Convs)
		credited += u.Credits.Rows()
		dead += len(u.Dead)
	}
	return raw, convs, credited, dead
}

// rawRows counts the rows of u in rawTables.
func rawRows(u *flow.Unit) int {
	return len(u.TPs) + len(u.Spend) + len(u.IDs) + len(u.Links)
}

// The tables of a batch, in two steps: the credited rows (what analysts
// and dashboards read) with the conversions every flush, then the other
// raw rows (what a restart reloads history from) and the marks, for one or
// more batches at once. The conversions go first because a restart finds
// a conversion's stored versions through its conversions row
// (conversion_versions is read for the conversions stored): credited
// rows stored without it would be written again, after a crash, under a
// version that need not be above theirs, and, with stitching, the stale
// version would win.
var (
	creditedTables = []string{tableCredited, tableConversions}
	rawTables      = []string{tableTouchpoints, tableSpend, tableIdentities, tableLinks}
)

const sinkWriters = 2

// slowHoldIntervals bounds, in flush intervals, how long a live batch due
// while the previous batch's credited insert is still in flight waits for
// it (see Config).
const slowHoldIntervals = 4

var tracer = otel.Tracer(flow.InstrumentationName)

// messageWriter is what the sink needs of the dead-letter topic's writer
// (a *kafka.Writer).
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ MessageWriter = (*kafka.Writer)(nil)

// Defaults of the sink's parameters, which pipeline.Config uses too.
const (
	DefaultFlushRows            = 50_000
	DefaultFlushInterval        = 250 * time.Millisecond
	DefaultBacklogFlushRows     = 200_000
	DefaultBacklogFlushInterval = time.Second
	DefaultRawFlushInterval     = time.Second
)

// Config configures a Sink. The runner fills it from a validated
// pipeline.Config; the fields mean what they mean there.
//
// Live, a batch is written when it holds FlushRows rows or FlushInterval
// after the previous insert, whichever comes first: rows wait at most the
// interval. While the input is behind (Lag reports at least FlushRows
// messages not yet consumed, so the next batches' rows are already
// waiting in Kafka), a batch is written when it holds BacklogFlushRows
// rows or is BacklogFlushInterval old: fewer, larger inserts, which cost
// ClickHouse far less CPU per row (every insert makes a part in each
// table, and parts are merged again and again), for rows that are late
// anyway. The sink counts as behind until the lag is down to a tenth of
// FlushRows. The larger of each pair counts.
//
// Each batch is written in two steps. Its credited rows
// (attributed_conversions, with its views) and its conversions go out
// first, as above. Its other raw rows (touchpoints, ad_spend, identities,
// links: what a restart reloads a user's history from, and what the
// aggregate views read for touchpoints) and its rollup marks wait until RawFlushInterval
// after the first of them waited, or until FlushRows raw rows wait, and go
// out together for several batches: one insert per table, and one set of
// parts, per RawFlushInterval instead of per FlushInterval. A batch's acks
// fire (its offsets may be committed) only after both steps, so a crash
// in between re-consumes the batch and writes its credited rows again,
// identical. A batch filled while behind (large already) is written in
// one step, every table at once, as before; before a barrier (a
// rebalance, a shutdown) the held raw rows go out at once.
// RawFlushInterval below FlushInterval counts as FlushInterval.
//
// Live, a batch that is due (FlushInterval) while the previous batch's
// credited insert is still in flight waits for that insert to end, and is
// written then, instead of beside it on the sink's second writer; it waits
// at most four FlushIntervals from its first row (or until it holds
// FlushRows rows). ClickHouse short of CPU (another job on a small
// machine) then gets fewer, larger inserts, each a part of every credited
// table to make and merge, instead of two at once that share the same
// core; on a machine where an insert takes less than FlushInterval, no
// batch ever waits.
type Config struct {
	Database             string        // where the tables are
	Shards               int           // shards sending units; Msg.Shard indexes them
	FlushRows            int           // Default DefaultFlushRows.
	FlushInterval        time.Duration // Default DefaultFlushInterval.
	BacklogFlushRows     int           // Default DefaultBacklogFlushRows.
	BacklogFlushInterval time.Duration // Default DefaultBacklogFlushInterval.
	RawFlushInterval     time.Duration // Default DefaultRawFlushInterval.
	// Lag returns how many messages the input is behind (the consumer
	// lag); nil: never behind.
	Lag    func() int64
	Logger *slog.Logger // Default: discard.
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.FlushRows == 0 {
		c.FlushRows = DefaultFlushRows
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.BacklogFlushRows == 0 {
		c.BacklogFlushRows = DefaultBacklogFlushRows
	}
	if c.BacklogFlushInterval == 0 {
		c.BacklogFlushInterval = DefaultBacklogFlushInterval
	}
	if c.RawFlushInterval == 0 {
		c.RawFlushInterval = DefaultRawFlushInterval
	}
	if c.Shards == 0 {
		c.Shards = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// New returns a sink writing to conn (rows) and dlq (dead letters). cfg
// must have its defaults set.
func New(conn driver.Conn, dlq MessageWriter, cfg Config, st *flow.Stats) *Sink {
	db, shards := cfg.Database, cfg.Shards
	s := &Sink{
		conn: conn, db: db, dlq: dlq, DeadMax: DefaultDeadMax,
		In:        make(chan Msg, 4*shards+16),
		flushRows: cfg.FlushRows, interval: cfg.FlushInterval,
		backlogRows: max(cfg.BacklogFlushRows, cfg.FlushRows), backlogWait: max(cfg.BacklogFlushInterval, cfg.FlushInterval),
		rawWait: max(cfg.RawFlushInterval, cfg.FlushInterval),
		lag:     cfg.Lag,
		stats:   st, log: cfg.Logger,
		acked:    make([]atomic.Uint64, shards),
		cur:      &batch{seqs: map[int]uint64{}},
		free:     make(chan *batch, sinkWriters+1),
		writes:   make(chan *batch),
		raws:     make(chan *batch, sinkWriters),
		wake:     make(chan struct{}, 1),
		credDone: make(chan struct{}, 1),
		holdMax:  slowHoldIntervals * cfg.FlushInterval,
		finished: map[uint64]*batch{},
	}
	s.insert = func(ctx context.Context, table string, units []*flow.Unit, cols *insertColumns) error {
		return insertRows(ctx, s.conn, s.db, table, units, cols)
	}
	return s
}

// Run consumes units until ctx ends, and returns nil then. Rows not yet
// durable when ctx ends are dropped unacknowledged: their offsets stay
// uncommitted and they are consumed again by whoever owns the partition
// next. When a table cannot take any row (see Classify), Run stops and
// returns an *UnusableError naming it: the runner ends the run with it.
func (s *Sink) Run(ctx context.Context) error {
	ctx, s.stop = context.WithCancelCause(ctx)
	defer s.stop(nil)
	for range sinkWriters {
		s.writers.Add(1)
		go func() {
			defer s.writers.Done()
			cols := &insertColumns{} // this writer's column buffers, reused batch after batch
			for b := range s.writes {
				if b.behind { // one step, as large already
					if s.writeAll(ctx, b, cols) {
						s.complete(b)
					}
					s.inflight.Done()
					continue
				}
				ok := s.writeCredited(ctx, b, cols)
				s.credBusy.Add(-1)
				select {
				case s.credDone <- struct{}{}:
				default:
				}
				if ok {
					select {
					case s.raws <- b: // the raw writer completes it
						continue
					case <-ctx.Done():
					}
				}
				s.inflight.Done()
			}
		}()
	}
	rawDone := make(chan struct{})
	go func() {
		defer close(rawDone)
		s.runRaw(ctx)
	}()
	defer func() {
		close(s.writes)
		s.writers.Wait()
		close(s.raws)
		<-rawDone
	}()
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.unusable(ctx)
		case m := <-s.In:
			if m.Barrier != nil {
				if !s.handOff(ctx) {
					return s.unusable(ctx)
				}
				s.urgent.Add(1)
				select {
				case s.wake <- struct{}{}:
				default:
				}
				s.inflight.Wait()
				s.urgent.Add(-1)
				m.Barrier <- ctx.Err()
				continue
			}
			b := s.cur
			b.add(m.U)
			if m.Shard >= 0 && m.Seq > b.seqs[m.Shard] {
				b.seqs[m.Shard] = m.Seq
			}
			if rows, _ := s.limits(); b.size() >= rows {
				if !s.handOff(ctx) {
					return s.unusable(ctx)
				}
				resetTimer(timer, s.interval)
			}
		case <-timer.C:
			if _, wait := s.limits(); wait > s.interval {
				if age := time.Since(s.cur.opened); !s.cur.empty() && age < wait {
					// Behind: let the batch grow.
					timer.Reset(min(s.interval, wait-age))
					continue
				}
			} else if age := time.Since(s.cur.opened); !s.cur.empty() && age < s.holdMax {
				select { // an insert that ended before now says nothing
				case <-s.credDone:
				default:
				}
				if s.credBusy.Load() > 0 {
					// ClickHouse is still writing the last batch's
					// credited rows: this one waits for it (credDone)
					// and grows, rather than being written beside it.
					s.holding = true
					timer.Reset(s.holdMax - age)
					continue
				}
			}
			if !s.handOff(ctx) {
				return s.unusable(ctx)
			}
			timer.Reset(s.interval)
		case <-s.credDone:
			if !s.holding {
				continue
			}
			if !s.handOff(ctx) {
				return s.unusable(ctx)
			}
			resetTimer(timer, s.interval)
		}
	}
}

// limits returns when the current batch is written: at how many rows, and
// at what age (checked every interval). The sink is behind from a lag of
// flushRows messages until the lag is down to a tenth of that, so that
// the end of a backlog is still written in large inserts and a live lag
// that wobbles does not switch modes.
func (s *Sink) limits() (rows int, wait time.Duration) {
	if s.lag != nil {
		switch lag := s.lag(); {
		case lag >= int64(s.flushRows):
			s.behind = true
		case lag <= int64(s.flushRows/10):
			s.behind = false
		}
	}
	if s.behind {
		return s.backlogRows, s.backlogWait
	}
	return s.flushRows, s.interval
}

// unusable returns why ctx ended if a table was found unusable, else nil.
func (s *Sink) unusable(ctx context.Context) error {
	var ue *UnusableError
	if err := context.Cause(ctx); errors.As(err, &ue) {
		return ue
	}
	return nil
}

// handOff gives the current batch to a writer, waiting for a free one.
func (s *Sink) handOff(ctx context.Context) bool {
	b := s.cur
	if b.empty() {
		return true
	}
	s.mu.Lock()
	b.id = s.nextID
	s.nextID++
	s.mu.Unlock()
	b.behind = s.behind
	s.holding = false
	s.inflight.Add(1)
	if !b.behind {
		s.credBusy.Add(1)
	}
	select {
	case s.writes <- b:
	case <-ctx.Done():
		if !b.behind {
			s.credBusy.Add(-1)
		}
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

// writeCredited writes b's dead letters and credited rows (the first step
// of a batch), retrying until they are written (true) or ctx ends or a
// table is unusable (false).
func (s *Sink) writeCredited(ctx context.Context, b *batch, cols *insertColumns) bool {
	_, convs, credited, dead := b.counts()
	ctx, span := tracer.Start(ctx, flow.SpanSinkFlush, trace.WithAttributes(
		attribute.Int(flow.AttrRowsRaw, convs),
		attribute.Int(flow.AttrRowsCredited, credited),
		attribute.Int(flow.AttrDeadLetters, dead),
		attribute.Int(flow.AttrMessages, b.acks)))
	defer span.End()
	refused, ok := s.write(ctx, span, b, cols, creditedTables, true)
	if !ok {
		return false
	}
	s.stats.CreditedRows.Add(int64(credited - refused[tableCredited]))
	s.stats.RawRows.Add(int64(convs - refused[tableConversions]))
	s.stats.DeadLetters.Add(int64(dead))
	return true
}

// runRaw is the raw writer: it takes the batches whose credited rows are
// written, writes the raw rows and the marks of all it holds when the
// first waited rawWait, when they reach flushRows raw rows or when a
// barrier waits, and then completes the
// batches (their acks fire). While it writes, the writers wait to hand it
// their next batch: at most sinkWriters batches wait beside those held.
func (s *Sink) runRaw(ctx context.Context) {
	cols := &insertColumns{}
	var held []*batch
	group := &batch{} // the units of held, written as one batch
	rows := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		due := false
		select {
		case <-ctx.Done():
			// Dropped unacknowledged, like the batches the writers
			// hold; and so are those still handed over until Run
			// closes raws (a barrier may be waiting for them).
			for range held {
				s.inflight.Done()
			}
			clear(group.units)
			for range s.raws {
				s.inflight.Done()
			}
			return
		case b, ok := <-s.raws:
			if !ok { // Run ended (ctx with it)
				for range held {
					s.inflight.Done()
				}
				clear(group.units)
				return
			}
			if len(held) == 0 {
				resetTimer(timer, s.rawWait)
			}
			held = append(held, b)
			group.units = append(group.units, b.units...)
			group.acks += b.acks
			for _, u := range b.units {
				rows += rawRows(u)
			}
			due = rows >= s.flushRows || s.urgent.Load() > 0
		case <-timer.C:
			due = len(held) > 0
		case <-s.wake:
			due = len(held) > 0 && s.urgent.Load() > 0
		}
		if !due {
			continue
		}
		timer.Stop()
		ok := s.writeRaw(ctx, group, cols)
		clear(group.units) // the units are held's: they go back to the pool with them
		group.units, group.acks, group.deadSent = group.units[:0], 0, false
		for _, b := range held {
			if ok {
				s.complete(b)
			}
			s.inflight.Done()
		}
		clear(held)
		held, rows = held[:0], 0
	}
}

// writeRaw writes the raw rows and then the marks of g (the units of one
// or more batches whose credited rows are written) and fires their acks:
// true, or false when ctx ended or a table is unusable.
func (s *Sink) writeRaw(ctx context.Context, g *batch, cols *insertColumns) bool {
	raw, _, _, _ := g.counts()
	ctx, span := tracer.Start(ctx, flow.SpanSinkFlush, trace.WithAttributes(
		attribute.Int(flow.AttrRowsRaw, raw),
		attribute.Int(flow.AttrMessages, g.acks)))
	defer span.End()
	refused, ok := s.write(ctx, span, g, cols, rawTables, false)
	if !ok || !s.mark(ctx, g, cols) {
		return false
	}
	for _, n := range refused {
		raw -= n
	}
	s.stats.RawRows.Add(int64(raw))
	s.done(g)
	return true
}

// writeAll writes a batch filled while behind in one step, as every batch
// was before the two steps: dead letters, then every table at once, then
// the marks, and fires its acks. Such a batch is large already, so there
// is nothing to gain from holding its raw rows, and its touchpoints go out
// beside its credits instead of after them.
func (s *Sink) writeAll(ctx context.Context, b *batch, cols *insertColumns) bool {
	raw, convs, credited, dead := b.counts()
	ctx, span := tracer.Start(ctx, flow.SpanSinkFlush, trace.WithAttributes(
		attribute.Int(flow.AttrRowsRaw, raw+convs),
		attribute.Int(flow.AttrRowsCredited, credited),
		attribute.Int(flow.AttrDeadLetters, dead),
		attribute.Int(flow.AttrMessages, b.acks)))
	defer span.End()
	refused, ok := s.write(ctx, span, b, cols, tables[:], true)
	if !ok || !s.mark(ctx, b, cols) {
		return false
	}
	for table, n := range refused {
		if table == tableCredited {
			credited -= n
		} else {
			raw -= n
		}
	}
	s.stats.RawRows.Add(int64(raw + convs))
	s.stats.CreditedRows.Add(int64(credited))
	s.stats.DeadLetters.Add(int64(dead))
	s.done(b)
	return true
}

// done counts what the units of b attributed and fires their acks: every
// row of b is durable.
func (s *Sink) done(b *batch) {
	for _, u := range b.units {
		s.stats.Attributed.Add(u.Attributed)
		s.stats.Reattributed.Add(u.Reattributed)
		s.stats.ReattributedLink.Add(u.ReattributedLink)
		for _, a := range u.Acks {
			a.Done()
		}
	}
}

// write writes the rows b holds for set (and b's dead letters first, once,
// when dead is set), retrying until it succeeds (true) or ctx ends or a
// table is unusable (false). What a failure does depends on its class
// (Classify): a transient one is retried with backoff, logged and
// counted; rows refused for their values are found by splitting the batch,
// dead-lettered and the rest written; an unusable table stops Run. It
// returns the rows refused per table.
func (s *Sink) write(ctx context.Context, span trace.Span, b *batch, cols *insertColumns, set []string, dead bool) (map[string]int, bool) {
	backoff := 100 * time.Millisecond
	var refused map[string]int // rows refused per table, dead-lettered
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := s.writeOnce(ctx, b, cols, set, dead)
		if err != nil && ctx.Err() == nil {
			f := classifyWrite(err)
			if f.class == Refused {
				// Every failing table refused rows for their values:
				// split, write the rest, dead-letter the refused.
				if refused, err = s.refuse(ctx, b, f, cols); err != nil {
					f = classifyWrite(err)
				}
			}
			if f.class == Unusable {
				ue := &UnusableError{Database: s.db, Table: f.table, Err: f.err}
				s.stats.InsertErrors.Add(1)
				span.RecordError(ue)
				s.log.Error("sink: a table cannot take any row; stopping the run", "table", s.db+"."+f.table, "err", f.err)
				s.stop(ue)
				return nil, false
			}
		}
		if err == nil {
			if dead { // the credited step: one per batch
				s.stats.LastInsertNanos.Store(int64(time.Since(start)))
				s.stats.InsertBatches.Add(1)
			}
			if since := s.stats.FailingSince.Swap(0); since != 0 {
				s.log.Warn("sink write recovered: writing again after failures", "failing_for", time.Since(time.Unix(0, since)).Round(time.Millisecond), "failed_attempts", s.stats.InsertErrors.Load()-s.stats.FailedBefore.Load())
			}
			return refused, true
		}
		if s.stats.FailingSince.CompareAndSwap(0, time.Now().UnixNano()) {
			s.stats.FailedBefore.Store(s.stats.InsertErrors.Load())
		}
		s.stats.InsertErrors.Add(1)
		span.RecordError(err)
		s.log.Warn("sink write failed; retrying", "attempt", attempt+1, "backoff", backoff, "class", Classify(err), "err", err)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// refuse writes the rows of b's refusing tables that the server takes
// and dead-letters the others (reason refused, with the server's message),
// counting and logging them; the tables that took b are written already.
// It returns the rows refused per table, or an error (the batch is then
// retried, or the run stopped).
func (s *Sink) refuse(ctx context.Context, b *batch, f failure, cols *insertColumns) (map[string]int, error) {
	letters, rows, err := s.writeRefusing(ctx, b, f, cols)
	if err != nil {
		return nil, err
	}
	if len(letters) > 0 {
		if err := s.writeDead(ctx, letters); err != nil {
			return nil, err
		}
	}
	s.stats.DeadLetters.Add(int64(len(letters)))
	for table, n := range rows {
		s.stats.Refused.Add(int64(n))
		first := ""
		for _, d := range letters {
			if d.Table == table {
				first = string(d.Msg.Key) + ": " + d.Err
				break
			}
		}
		s.log.Error("sink: clickhouse refused rows; dead-lettered (reason refused), the rest written",
			"table", s.db+"."+table, "rows", n, "records", countTable(letters, table), "first", schemas.SafeText(first))
	}
	return rows, nil
}

func countTable(letters []flow.DeadLetter, table string) int {
	n := 0
	for _, d := range letters {
		if d.Table == table {
			n++
		}
	}
	return n
}

// complete records b as durable and advances the per-shard acknowledged
// sequence numbers over the longest prefix of durable batches.
func (s *Sink) complete(b *batch) {
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
		flow.PutUnit(u)
	}
	clear(b.units)
	b.units, b.rows, b.acks = b.units[:0], 0, 0
	clear(b.seqs)
	b.deadSent = false
}

// writeOnce writes the dead letters (once, when dead is set), then the
// tables of set at once.
func (s *Sink) writeOnce(ctx context.Context, b *batch, cols *insertColumns, set []string, dead bool) error {
	if dead && !b.deadSent {
		var dead []flow.DeadLetter
		for _, u := range b.units {
			dead = append(dead, u.Dead...)
		}
		if len(dead) > 0 {
			if err := s.writeDead(ctx, dead); err != nil {
				return err
			}
		}
		b.deadSent = true
	}
	return s.insertAll(ctx, b.units, cols, set)
}

// insertAll writes the rows of units into the tables of set, the tables
// at once. It returns only when ClickHouse acknowledged all; the error joins
// one *TableError per failing table. After an error some tables may hold
// their rows, which is harmless: every table collapses identical rows.
func (s *Sink) insertAll(ctx context.Context, units []*flow.Unit, cols *insertColumns, set []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(set))
	for i, table := range set {
		wg.Go(func() { errs[i] = s.insert(ctx, table, units, cols) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeDead produces the dead letters with acknowledged writes. Each record
// is cut to fit the dead-letter topic (see deadMessage). Should the broker
// still refuse one as too large (its limit lowered since the start), it is
// cut to 4 KiB and sent once more; a record refused again is logged
// and counted as lost, with where it came from, and the pipeline goes on:
// no single message can stall the group. Other errors (the broker away)
// are returned, and the batch is retried.
func (s *Sink) writeDead(ctx context.Context, dead []flow.DeadLetter) error {
	msgs := make([]kafka.Message, len(dead))
	for i, d := range dead {
		msgs[i] = deadMessage(d, s.DeadMax)
	}
	err := s.dlq.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if !tooLarge(err) && !errors.As(err, &werrs) {
		return err
	}
	// One by one, cutting what is still too large.
	for i, d := range dead {
		err := s.dlq.WriteMessages(ctx, msgs[i])
		if tooLarge(err) {
			err = s.dlq.WriteMessages(ctx, deadMessage(d, MinDeadMax))
		}
		if tooLarge(err) {
			s.stats.DeadLettersLost.Add(1)
			s.log.Error("dead letter refused by the broker as too large even when cut; lost (its offset is committed)",
				"dlq_topic_bytes", s.DeadMax, "source_topic", d.Msg.Topic, "source_partition", d.Msg.Partition, "source_offset", d.Msg.Offset,
				"reason", d.Reason, "key_bytes", len(d.Msg.Key), "value_bytes", len(d.Msg.Value), "err", err)
			continue
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

// Bounds of dead-letter records.
const (
	// DefaultDeadMax is the dead-letter topic's limit when the broker does
	// not say: Kafka's default message.max.bytes.
	DefaultDeadMax = 1048588
	// MinDeadMax is the smallest limit records are ever cut to.
	MinDeadMax = 4 << 10
	// RecordSlack covers a record's and its batch's framing (lengths,
	// timestamps, offsets, attributes, CRC).
	RecordSlack = 512
	// headerSlack covers one header's framing (two varint lengths).
	headerSlack = flow.HeaderSlack
	// maxDeadKey and maxDeadError bound the key and the error text of a
	// record that must be cut: a key is an id; the rest of the budget goes
	// to the value, the part a person fixes.
	maxDeadKey   = 1 << 10
	maxDeadError = 1 << 10
)

// MessageBytes is what the size limits count of a message: its key, value
// and headers.
func MessageBytes(m *kafka.Message) int { return flow.MessageBytes(m) }

func HeadersBytes(hs []kafka.Header) int { return flow.HeadersBytes(hs) }

// deadMessage returns the dead-letter record of d, no larger than limit
// bytes (key, value, headers and framing). When the original does not fit,
// the key, the source headers and then the value are cut, and headers give
// the original sizes: attributor.original_key_bytes,
// attributor.original_value_bytes (also as attributor.truncated_from) and
// attributor.original_headers_bytes.
func deadMessage(d flow.DeadLetter, limit int) kafka.Message {
	key, value, src := d.Msg.Key, d.Msg.Value, d.Msg.Headers
	headers := []kafka.Header{
		{Key: "attributor.reason", Value: []byte(d.Reason)},
		{Key: "attributor.error", Value: []byte(schemas.SafeText(d.Err))}, // no raw input bytes, whoever made the text
	}
	if d.Table == "" {
		headers = append(headers,
			kafka.Header{Key: "attributor.source_topic", Value: []byte(d.Msg.Topic)},
			kafka.Header{Key: "attributor.source_partition", Value: []byte(strconv.Itoa(d.Msg.Partition))},
			kafka.Header{Key: "attributor.source_offset", Value: []byte(strconv.FormatInt(d.Msg.Offset, 10))})
	} else {
		// A row ClickHouse refused: the table, and for an event's row the
		// input partition it came from (its offset is not kept past the
		// shard; the key is the event's or conversion's id).
		headers = append(headers, kafka.Header{Key: "attributor.table", Value: []byte(d.Table)})
		if d.Msg.Partition >= 0 {
			headers = append(headers, kafka.Header{Key: "attributor.source_partition", Value: []byte(strconv.Itoa(d.Msg.Partition))})
		}
	}
	if !d.Msg.Time.IsZero() {
		headers = append(headers, kafka.Header{Key: "attributor.source_timestamp", Value: []byte(d.Msg.Time.UTC().Format(time.RFC3339Nano))})
	}
	if len(key)+len(value)+HeadersBytes(headers)+HeadersBytes(src)+RecordSlack <= limit {
		return kafka.Message{Key: key, Value: value, Headers: append(headers, src...)}
	}
	if len(d.Err) > maxDeadError {
		headers[1].Value = headers[1].Value[:maxDeadError]
	}
	headers = append(headers,
		kafka.Header{Key: "attributor.original_key_bytes", Value: []byte(strconv.Itoa(len(key)))},
		kafka.Header{Key: "attributor.original_value_bytes", Value: []byte(strconv.Itoa(len(value)))},
		kafka.Header{Key: "attributor.original_headers_bytes", Value: []byte(strconv.Itoa(HeadersBytes(src)))},
		kafka.Header{Key: "attributor.truncated_from", Value: []byte(strconv.Itoa(len(value)))},
	)
	budget := max(0, limit-RecordSlack-HeadersBytes(headers))
	key = key[:min(len(key), maxDeadKey, budget/4)]
	budget -= len(key)
	kept := 0
	for n := 0; kept < len(src); kept++ {
		if n += len(src[kept].Key) + len(src[kept].Value) + headerSlack; n > budget/2 {
			break
		}
	}
	src = src[:kept]
	budget -= HeadersBytes(src)
	value = value[:min(len(value), budget)]
	return kafka.Message{Key: key, Value: value, Headers: append(headers, src...)}
}

// Send hands a shard's unit to the sink (the sink is the shards'
// sessionize.Output; the runner checks it implements it).
func (s *Sink) Send(ctx context.Context, shard int, seq uint64, u *flow.Unit) bool {
	select {
	case s.In <- Msg{U: u, Shard: shard, Seq: seq}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Acked returns the shard's highest unit sequence number that is durable.
func (s *Sink) Acked(shard int) uint64 { return s.acked[shard].Load() }
