package source

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/attributor/attributor/pipeline/flow"

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

// Forward implements flow.Forwarder. TEMPORARY (lead14): replaced by
// src14's at merge.
func (f *Forwarder) Forward(ctx context.Context, fw *flow.Forward) bool {
	if fw.Kind == flow.KindMove {
		v, _ := json.Marshal(fw.Move)
		rec := kafka.Message{Key: []byte(fw.Key), Value: v, Headers: []kafka.Header{{Key: HeaderKind, Value: []byte("move")}, {Key: HeaderKey, Value: []byte(fw.Key)}}}
		return f.send(ctx, rec, &fwdData{home: fw.Home, ack: fw.Ack, kind: flow.KindMove})
	}
	m := kafka.Message{Value: fw.Value, Partition: int(fw.Origin), Offset: fw.Offset}
	return f.forward(ctx, &m, fw.Kind, fw.Key, fw.Home, fw.Ack)
}

// Partition is the fetcher's partition.
func (f *Fetcher) Partition() int { return f.partition }
