package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// prefetchRun is the most messages handed from the fetching goroutine to
// the fetcher at a time. With one run being routed, one waiting and one
// being read, a partition holds at most 3 x prefetchRun messages fetched
// and not routed (kafka-go's Reader held its QueueCapacity, 1024).
const prefetchRun = 1024

// clockEvery is how many messages next returns on one reading of the
// clock: it is read when a run is taken and again every clockEvery
// messages within it, not per message (docs/DESIGN.md, "Our own fetch
// loop"). Its time is used for marks and the future check, which reads
// the clock afresh before it dead-letters anything (Fetcher.future).
const clockEvery = 64

// prefetch runs a partition's fetch loop in a goroutine of its own, one
// run of messages ahead of the fetcher: while the fetcher routes a run,
// the next fetch is on its way or its answer is being read. (The loop
// alone was serial, fetch then route then fetch again, and with one core
// busy the routing and the fetching waited for each other; see
// docs/BENCHMARKS.md, "Our own fetch loop".) Runs are handed over whole,
// one channel operation per run, not per message as the Reader did.
//
// next is called by one goroutine, the fetcher's.
type prefetch struct {
	p    *partitionFetch
	runs chan fetchedRun
	free chan []kafka.Message // runs routed, for the loop to fill again
	stop context.CancelFunc
	done chan struct{}   // closed when the goroutine has returned
	cur  []kafka.Message // the run being routed
	i    int             // its next message
	err  error           // the failure that ended it

	clock    func() time.Time // time.Now; tests set another before next is called
	now      time.Time        // the clock as next last read it
	sinceNow int              // messages returned since
}

// fetchedRun is a run of messages, then the failure that ended it if one
// did.
type fetchedRun struct {
	msgs []kafka.Message
	err  error
}

// startPrefetch starts fetching topic's partition from offset start
// (negative: the log's start) until ctx ends or close is called.
func startPrefetch(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string, partition int, start int64, log *slog.Logger, stats *flow.Stats) *prefetch {
	ctx, stop := context.WithCancel(ctx)
	q := &prefetch{
		p:     newPartitionFetch(ctx, dialer, brokers, topic, partition, start, log, stats),
		runs:  make(chan fetchedRun, 1),
		free:  make(chan []kafka.Message, 2),
		stop:  stop,
		done:  make(chan struct{}),
		clock: time.Now,
	}
	go q.loop(ctx)
	return q
}

// loop fills runs and hands them over until ctx ends. After a failure it
// waits (retryWait) before the next attempt, the fetcher logging it
// meanwhile. When no routed run is free to be filled again, a new one's
// room is the most a run held so far (64 at first, an idle partition's
// runs stay small): a backlog's runs are full, and one grown from 64 was
// copied four times on the way to prefetchRun messages.
func (q *prefetch) loop(ctx context.Context) {
	defer close(q.done)
	defer q.p.drop()
	room := 64
	for {
		var buf []kafka.Message
		select {
		case buf = <-q.free:
		default:
			buf = make([]kafka.Message, 0, room)
		}
		buf, err := q.p.fill(buf, prefetchRun)
		room = max(room, len(buf))
		if err != nil && ctx.Err() != nil {
			return // ended by the fetcher (or its context): nothing to say
		}
		select {
		case q.runs <- fetchedRun{msgs: buf, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			select {
			case <-time.After(q.p.retryWait()):
			case <-ctx.Done():
				return
			}
		}
	}
}

// next returns the next message of the partition, with the time as the
// clock was last read: when its run was taken, or up to clockEvery-1
// messages before it in a run (the fetcher's future check and marks). It
// blocks until one is there or the context ends; a failed fetch is
// returned once, after the messages read before it (the loop waits before
// it tries again: the fetcher need not). The fetcher has routed every
// message returned before it calls next again: the run they came from is
// then released (Lag).
func (q *prefetch) next() (kafka.Message, time.Time, error) {
	for q.i == len(q.cur) {
		q.recycle()
		if err := q.err; err != nil {
			q.err = nil
			return kafka.Message{}, time.Time{}, err
		}
		select {
		case r := <-q.runs:
			q.cur, q.err = r.msgs, r.err
			q.sinceNow = clockEvery // a run may follow a long wait: the clock is read afresh
		case <-q.p.ctx.Done():
			return kafka.Message{}, time.Time{}, q.p.ctx.Err()
		}
	}
	if q.sinceNow >= clockEvery {
		q.now, q.sinceNow = q.clock(), 0
	}
	q.sinceNow++
	m := q.cur[q.i]
	q.i++
	return m, q.now, nil
}

// recycle releases the run routed and gives it back to the loop.
func (q *prefetch) recycle() {
	if q.cur == nil {
		return
	}
	q.p.release(len(q.cur))
	clear(q.cur) // the routed messages' keys and values belong to the shards now
	select {
	case q.free <- q.cur[:0]:
	default:
	}
	q.cur, q.i = nil, 0
}

// Lag is partitionFetch.Lag: the messages not routed yet. Safe to call
// from any goroutine.
func (q *prefetch) Lag() (lag int64, known bool) { return q.p.Lag() }

// close stops the loop and waits until it has closed its connection.
func (q *prefetch) close() {
	q.stop()
	<-q.done
}
