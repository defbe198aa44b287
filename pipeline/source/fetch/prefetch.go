package fetch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// prefetchRun is the most messages handed from the fetching goroutine to
// the caller at a time. With one run being routed, one waiting and one
// being read, a partition holds at most 3 x prefetchRun messages fetched
// and not routed (kafka-go's Reader held its QueueCapacity, 1024).
const prefetchRun = 1024

// Config is what Start needs to fetch one partition.
type Config struct {
	// Dialer connects to the brokers (TLS, SASL, timeouts): required. The
	// loop dials through a copy whose connections read their socket
	// through a buffer (readBuffered); Dialer itself is not changed.
	Dialer    *kafka.Dialer
	Brokers   []string // the partition's leader is looked up through their metadata
	Topic     string
	Partition int
	Start     int64 // the first offset to fetch; negative: the log's start
	// Log takes the retention gaps the loop finds after the first message
	// (an error each). Default: discarded.
	Log *slog.Logger
	// Fetches counts the fetch requests sent. Default: not counted.
	Fetches *atomic.Int64
	// Skipped counts the offsets retention deleted before they were
	// fetched, found after the first message. A gap before it is the
	// caller's to count: only it knows where it meant to start (a
	// committed offset, or the log's start). Default: not counted.
	Skipped *atomic.Int64
}

// Loop runs a partition's fetch loop in a goroutine of its own, one run
// of messages ahead of its caller (source's Fetcher): while the caller
// routes a run, the next fetch is on its way or its answer is being read.
// (The loop alone was serial, fetch then route then fetch again, and with
// one core busy the routing and the fetching waited for each other; see
// docs/BENCHMARKS.md, "Our own fetch loop".) Runs are handed over whole,
// one channel operation per run, not per message as the Reader did.
//
// Next is called by one goroutine, the caller's; Lag by any; Close once.
type Loop struct {
	p    *partitionFetch
	runs chan fetchedRun
	free chan []kafka.Message // runs routed, for the loop to fill again
	stop context.CancelFunc
	done chan struct{}   // closed when the goroutine has returned
	cur  []kafka.Message // the run being routed
	i    int             // its next message
	err  error           // the failure that ended it
}

// fetchedRun is a run of messages, then the failure that ended it if one
// did.
type fetchedRun struct {
	msgs []kafka.Message
	err  error
}

// Start starts fetching cfg.Topic's partition from cfg.Start until ctx
// ends or Close is called.
func Start(ctx context.Context, cfg Config) *Loop {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Fetches == nil {
		cfg.Fetches = new(atomic.Int64)
	}
	if cfg.Skipped == nil {
		cfg.Skipped = new(atomic.Int64)
	}
	ctx, stop := context.WithCancel(ctx)
	l := &Loop{
		p:    newPartitionFetch(ctx, cfg),
		runs: make(chan fetchedRun, 1),
		free: make(chan []kafka.Message, 2),
		stop: stop,
		done: make(chan struct{}),
	}
	go l.run(ctx)
	return l
}

// run fills runs and hands them over until ctx ends. After a failure it
// waits (retryWait) before the next attempt, the caller logging it
// meanwhile. When no routed run is free to be filled again, a new one's
// room is the most a run held so far (64 at first, an idle partition's
// runs stay small): a backlog's runs are full, and one grown from 64 was
// copied four times on the way to prefetchRun messages.
func (l *Loop) run(ctx context.Context) {
	defer close(l.done)
	defer l.p.drop()
	room := 64
	for {
		var buf []kafka.Message
		select {
		case buf = <-l.free:
		default:
			buf = make([]kafka.Message, 0, room)
		}
		buf, err := l.p.fill(buf, prefetchRun)
		room = max(room, len(buf))
		if err != nil && ctx.Err() != nil {
			return // ended by Close (or its context): nothing to say
		}
		select {
		case l.runs <- fetchedRun{msgs: buf, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			select {
			case <-time.After(l.p.retryWait()):
			case <-ctx.Done():
				return
			}
		}
	}
}

// Next returns the next message of the partition; newRun says it is the
// first of a run handed over, which may follow a wait as long as the
// partition was idle (the caller reads its clock afresh there). It blocks
// until a message is there or the context ends; a failed fetch is
// returned once, after the messages read before it (the loop waits before
// it tries again: the caller need not). The caller has routed every
// message returned before it calls Next again: the run they came from is
// then released (Lag).
func (l *Loop) Next() (m kafka.Message, newRun bool, err error) {
	for l.i == len(l.cur) {
		l.recycle()
		if err = l.err; err != nil {
			l.err = nil
			return kafka.Message{}, false, err
		}
		select {
		case r := <-l.runs:
			l.cur, l.err = r.msgs, r.err
		case <-l.p.ctx.Done():
			return kafka.Message{}, false, l.p.ctx.Err()
		}
	}
	m, newRun = l.cur[l.i], l.i == 0
	l.i++
	return m, newRun, nil
}

// recycle releases the run routed and gives it back to the loop.
func (l *Loop) recycle() {
	if l.cur == nil {
		return
	}
	l.p.release(len(l.cur))
	clear(l.cur) // the routed messages' keys and values belong to the caller's shards now
	select {
	case l.free <- l.cur[:0]:
	default:
	}
	l.cur, l.i = nil, 0
}

// Lag is how many messages are not routed yet: those the partition's log
// held past the last message read, as the last fetch saw it, and those
// read but not released (partitionFetch.Lag); known says whether a fetch
// succeeded yet. Safe to call from any goroutine.
func (l *Loop) Lag() (lag int64, known bool) { return l.p.Lag() }

// Close stops the loop and waits until it has closed its connection.
func (l *Loop) Close() {
	l.stop()
	<-l.done
}
