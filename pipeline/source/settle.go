package source

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// RepartitionEnds returns the end offset of each of partitions of the
// repartition topic: with identity stitching, a --until-caught-up run
// settles by consuming its homes up to their ends until nothing new comes
// (the shards forward devices' events and moves after the inputs' final
// marks).
func (s *Source) RepartitionEnds(ctx context.Context, partitions []int) (map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range partitions {
		req.Topics[s.Cfg.RepartitionTopic] = append(req.Topics[s.Cfg.RepartitionTopic], kafka.LastOffsetOf(p))
	}
	out := map[int]int64{}
	if len(partitions) == 0 {
		return out, nil
	}
	resp, err := s.Client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list repartition end offsets: %w", err)
	}
	for _, p := range resp.Topics[s.Cfg.RepartitionTopic] {
		if p.Error != nil {
			return nil, fmt.Errorf("list end offset of %s/%d: %w", s.Cfg.RepartitionTopic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}

// Flush waits until every record sent so far was acknowledged by Kafka
// (or failed), or ctx ends.
func (f *Forwarder) Flush(ctx context.Context) bool {
	for len(f.slots) > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// Next is the offset after the last message the fetcher routed.
func (f *Fetcher) Next() int64 { return f.next.Load() }

// Partition is the fetcher's partition.
func (f *Fetcher) Partition() int { return f.partition }
