package source

import (
	"context"
	"log/slog"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// FetchLoop is the fetch loop of one partition, for the package's tests.
type FetchLoop struct{ q *prefetch }

// NewFetchLoop starts the fetch loop of topic's partition from offset
// start (negative: the log's start), for as long as ctx lasts.
func NewFetchLoop(ctx context.Context, d *kafka.Dialer, brokers []string, topic string, partition int, start int64, log *slog.Logger, st *flow.Stats) *FetchLoop {
	return &FetchLoop{startPrefetch(ctx, d, brokers, topic, partition, start, log, st)}
}

// Next is prefetch.next, as the fetcher calls it.
func (l *FetchLoop) Next() (kafka.Message, error) {
	m, _, err := l.q.next()
	return m, err
}

// Dials is how many connections the loop opened.
func (l *FetchLoop) Dials() int64 { return l.q.p.dials.Load() }

// Lag is prefetch.Lag.
func (l *FetchLoop) Lag() (int64, bool) { return l.q.Lag() }

// Close stops the loop and closes its connection.
func (l *FetchLoop) Close() { l.q.close() }
