package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// The fetch loop of one partition, on a kafka-go Conn to its leader.
//
// It replaced a kafka-go Reader per partition (docs/DESIGN.md, "Our own
// fetch loop"), for two reasons:
//
//   - Fewer, fuller fetches in live traffic. The Reader asked for
//     MinBytes 1: a fetch returned as soon as anything was there, so the
//     broker answered one fetch per producer batch (every 5 ms and
//     partition at 20k events/s). Larger MinBytes with a short MaxWait
//     could not be used with the Reader: it sets a fetch's read deadline
//     to MaxWait from the request, and a broker answering later than that
//     (one core busy) was taken for a broken connection and redialed.
//     Here the deadline is MaxWait plus fetchSlack.
//   - The Reader's goroutine handed every message over a channel and set
//     the connection's read deadline before each one; here the loop hands
//     the caller runs of messages (prefetch.go), and the deadline is
//     moved only when it comes near.
//
// Two modes: after a fetch that returned messages, the next one asks for
// liveMinBytes within liveMaxWait (live traffic: one fetch per liveMaxWait
// rather than per producer batch; a backlog: a full fetch at once); after
// an empty fetch, for any byte within idleMaxWait, so that the first
// message after a quiet time is fetched as soon as it is written (the
// broker answers a waiting fetch when a byte arrives: idleMaxWait costs no
// latency, only bounds how often an idle partition is asked for).
const (
	liveMinBytes  = 1 << 20
	liveMaxWait   = 20 * time.Millisecond
	idleMaxWait   = 500 * time.Millisecond
	fetchMaxBytes = 32 << 20
	// fetchSlack is how much later than its MaxWait a fetch's answer may
	// come before the connection is taken for broken, and how far the
	// read deadline is moved while a batch is read (a full shard queue
	// can hold the loop for long between two messages).
	fetchSlack = 10 * time.Second
	// fetchRetryMax caps the wait between two attempts after errors.
	fetchRetryMax = 2 * time.Second
)

// partitionFetch fetches one partition from its leader, a run of
// messages at a time (fill), for as long as its context lasts. It is used
// by one goroutine (Loop.run); Lag and release by any.
type partitionFetch struct {
	ctx       context.Context // its end closes the connection: a fetch waiting on the broker returns
	dialer    *kafka.Dialer   // readBuffered
	brokers   []string
	topic     string
	partition int
	log       *slog.Logger
	fetches   *atomic.Int64 // Config.Fetches
	skipped   *atomic.Int64 // Config.Skipped: retention gaps after the first message

	offset int64 // the next offset to fetch; kafka.FirstOffset until the first dial
	seen   bool  // a message was returned: later retention gaps are counted here

	conn     *kafka.Conn
	stop     func() bool // stops closing conn when the context ends
	batch    *kafka.Batch
	hwm      int64     // the batch's high watermark
	n        int       // messages read from the batch
	deadline time.Time // conn's read deadline
	live     bool      // the last fetch returned messages
	fails    int       // failed attempts in a row

	dials   atomic.Int64 // connections opened (tests)
	lag     atomic.Int64 // messages behind the high watermark of the last fetch, not read yet
	pending atomic.Int64 // messages fill returned and the caller has not released
	fetched atomic.Bool  // a fetch succeeded: lag is known
}

func newPartitionFetch(ctx context.Context, cfg Config) *partitionFetch {
	start := cfg.Start
	if start < 0 {
		start = kafka.FirstOffset
	}
	return &partitionFetch{ctx: ctx, dialer: readBuffered(cfg.Dialer), brokers: cfg.Brokers, topic: cfg.Topic, partition: cfg.Partition, offset: start,
		log: cfg.Log, fetches: cfg.Fetches, skipped: cfg.Skipped}
}

// fill appends to buf the messages of the partition that follow the
// last one returned, fetching as needed: those left of the batch being
// read, up to max of them, or if none is left, those of the next fetch
// that returns any. It blocks until a message is there, the loop's
// context ends, or a fetch fails; a failure closes the connection (the
// next call dials the partition's leader again, wherever it is then) and
// is returned after the messages read before it, for the caller to log
// and wait on (retryWait). The messages returned are counted in pending
// (see Lag) until the caller releases them.
func (p *partitionFetch) fill(buf []kafka.Message, max int) ([]kafka.Message, error) {
	ctx := p.ctx
	for {
		if p.batch != nil {
			// The deadline is moved when it comes near, not per message:
			// a full queue can hold the caller for long between two fills.
			if now := time.Now(); now.Add(fetchSlack / 2).After(p.deadline) {
				p.deadline = now.Add(fetchSlack)
				p.conn.SetReadDeadline(p.deadline)
			}
			var err error
			for len(buf) < max {
				var m kafka.Message
				if m, err = p.batch.ReadMessage(); err != nil {
					break
				}
				p.n++
				p.offset, p.seen = m.Offset+1, true
				buf = append(buf, m)
			}
			// Counted pending before the batch's end moves the lag past
			// them, so that Lag always counts them one way or the other.
			p.pending.Add(int64(len(buf)))
			if err == nil {
				return buf, nil // max of them; the batch has more
			}
			if err := p.endBatch(ctx); err != nil {
				return buf, err
			}
			if len(buf) > 0 {
				return buf, nil
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return buf, err
		}
		if err := p.startBatch(ctx); err != nil {
			p.fails++
			return buf, err
		}
	}
}

// release says that n messages returned by fill were routed.
func (p *partitionFetch) release(n int) { p.pending.Add(-int64(n)) }

// retryWait is how long to wait before the next attempt after a failure:
// 100 ms, doubling up to fetchRetryMax.
func (p *partitionFetch) retryWait() time.Duration {
	return min(fetchRetryMax, 100*time.Millisecond<<min(p.fails-1, 5))
}

// startBatch sends a fetch request, dialing the leader first if needed.
func (p *partitionFetch) startBatch(ctx context.Context) error {
	if p.conn == nil {
		if err := p.dial(ctx); err != nil {
			return err
		}
	}
	minBytes, wait := 1, idleMaxWait
	if p.live {
		minBytes, wait = liveMinBytes, liveMaxWait
	}
	p.deadline = time.Now().Add(wait + fetchSlack)
	p.conn.SetDeadline(p.deadline)
	if _, err := p.conn.Seek(p.offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		p.drop()
		return fmt.Errorf("seek to offset %d: %w", p.offset, err)
	}
	p.batch = p.conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: minBytes, MaxBytes: fetchMaxBytes, MaxWait: wait})
	p.hwm, p.n = p.batch.HighWaterMark(), 0
	if p.hwm > 0 {
		// What the answer holds is behind the log's end until read and
		// routed: said before it is read (idle marks, Lag).
		p.lag.Store(max(0, p.hwm-p.offset))
	}
	p.fetches.Add(1)
	return nil
}

// endBatch closes the batch read to its end (or to an error).
func (p *partitionFetch) endBatch(ctx context.Context) error {
	b := p.batch
	err := b.Close()
	p.batch = nil
	// kafka-go reports as timed out an empty fetch (nothing past the
	// offset when the broker's wait ended), and a batch read to its end
	// past the deadline it was sent with (the deadline moved on while its
	// messages were read, a shard being slow): the connection is fine.
	// (Only a failure to read the answer in time breaks it: a network
	// error, the connection closed.)
	if err == nil || errors.Is(err, kafka.RequestTimedOut) {
		p.offset = max(p.offset, b.Offset()) // past records compacted away at the batch's end
		p.lag.Store(max(0, p.hwm-p.offset))
		p.fetched.Store(true)
		p.live, p.fails = p.n > 0, 0
		return nil
	}
	p.live = false
	p.fails++
	if ctx.Err() != nil {
		p.drop()
		return ctx.Err()
	}
	p.drop()
	if errors.Is(err, kafka.OffsetOutOfRange) {
		// Not in the log: before its start, retention deleted messages not
		// consumed yet (dial counts and logs them as lost and goes on from
		// the log's start); past its end, the log was truncated or
		// recreated (an error to log and retry: nothing is skipped
		// silently). On a new connection: kafka-go leaves the rest of the
		// failed answer unread on this one.
		at := p.offset
		if err := p.dial(ctx); err != nil {
			return fmt.Errorf("fetch from offset %d: %w; %w", at, kafka.OffsetOutOfRange, err)
		}
		if p.offset == at { // the log holds it now: not expected, so not retried in silence
			return fmt.Errorf("fetch from offset %d: %w, inside the log's range when checked", at, kafka.OffsetOutOfRange)
		}
		p.fails = 0
		return nil
	}
	return fmt.Errorf("fetch from offset %d: %w", p.offset, err)
}

// skipTo moves the next offset to first, the log's start, past messages
// retention deleted. Before the first message, the caller counts the gap
// from the offset it started at (source's Fetcher.Run); after, it is
// counted here.
func (p *partitionFetch) skipTo(first int64) {
	if p.seen && p.offset >= 0 && first > p.offset {
		p.skipped.Add(first - p.offset)
		p.log.Error("uncommitted messages were deleted by retention before they were consumed",
			"topic", p.topic, "partition", p.partition, "committed", p.offset, "first_available", first, "lost", first-p.offset)
	}
	p.offset = first
}

// dial connects to the partition's leader (looked up through the brokers'
// metadata) and checks the offset to fetch against the log's range.
func (p *partitionFetch) dial(ctx context.Context) error {
	var err error
	for _, b := range p.brokers {
		var c *kafka.Conn
		if c, err = p.dialer.DialLeader(ctx, "tcp", b, p.topic, p.partition); err == nil {
			p.conn = c
			break
		}
	}
	if p.conn == nil {
		return fmt.Errorf("connect to the leader: %w", err)
	}
	p.dials.Add(1)
	c := p.conn
	p.stop = context.AfterFunc(ctx, func() { c.Close() }) // a fetch waiting on the broker ends with ctx
	first, last, err := p.readOffsets()
	if err != nil {
		p.drop()
		return fmt.Errorf("read the partition's offsets: %w", err)
	}
	switch {
	case p.offset == kafka.FirstOffset || p.offset < first:
		p.skipTo(first)
	case p.offset > last:
		p.drop()
		return fmt.Errorf("offset %d is past the end of the partition's log (%d): waiting for it to be written", p.offset, last)
	}
	return nil
}

// readOffsets reads the first and last offset of the log.
func (p *partitionFetch) readOffsets() (first, last int64, err error) {
	p.conn.SetDeadline(time.Now().Add(fetchSlack))
	first, last, err = p.conn.ReadOffsets()
	p.conn.SetDeadline(time.Time{})
	return first, last, err
}

// drop closes the connection (and a batch being read).
func (p *partitionFetch) drop() {
	if p.conn == nil {
		return
	}
	p.stop()
	p.conn.Close() // first: closing the batch would read what is left of it
	if p.batch != nil {
		p.batch.Close()
		p.batch = nil
	}
	p.conn = nil
}

// Lag is how many messages are not routed yet: those the partition's log
// held past the last message read, as the last fetch saw it, and those
// read but not released; known says whether a fetch succeeded yet. It is
// safe to call from any goroutine.
func (p *partitionFetch) Lag() (lag int64, known bool) {
	lag = p.lag.Load() // first: fill counts its messages pending before it moves the lag past them
	return lag + p.pending.Load(), p.fetched.Load()
}
