package source

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// RepartitionEnds returns the end offset of each of partitions of the
// repartition topic: with identity stitching, a --until-caught-up run
// settles by consuming its homes up to their ends until nothing new comes
// (the shards forward devices' events and moves after the inputs' final
// marks).
func (s *Source) RepartitionEnds(ctx context.Context, partitions []int) (map[int]int64, error) {
	ranges, err := s.logRanges(ctx, map[string][]int{s.Cfg.RepartitionTopic: partitions})
	if err != nil {
		return nil, fmt.Errorf("repartition end offsets: %w", err)
	}
	out := map[int]int64{}
	for p, lr := range ranges[s.Cfg.RepartitionTopic] {
		out[p] = lr.End
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

// GroupSettled reports whether group has consumed everything a caught-up
// run must: every input partition committed up to its end in ends (the
// run's start), and every partition of the repartition topic committed up
// to its end now, whichever member owns it. With stitching a member's
// shards send moves and devices' events to other members' homes after
// the inputs' final marks, so a member's own homes settled says nothing
// of the others'. Once it holds it stays true: a consumed record's offset
// is committed only once what it sends on is in Kafka (its ack rides on
// it), so with every offset committed nothing is on its way. pending
// names the first partition found behind, for the log.
func (s *Source) GroupSettled(ctx context.Context, group string, ends map[string]map[int]LogRange) (settled bool, pending string, err error) {
	rep := s.Cfg.RepartitionTopic
	homes := make([]int, s.Parts[rep])
	for p := range homes {
		homes[p] = p
	}
	repRanges, err := s.logRanges(ctx, map[string][]int{rep: homes})
	if err != nil {
		return false, "", fmt.Errorf("repartition offsets: %w", err)
	}
	want := map[string]map[int]LogRange{rep: repRanges[rep]}
	fetch := map[string][]int{rep: homes}
	for t, ps := range ends {
		want[t] = ps
		for p := range ps {
			fetch[t] = append(fetch[t], p)
		}
	}
	committed, err := s.Client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: fetch})
	if err != nil {
		return false, "", fmt.Errorf("fetch the group's committed offsets: %w", err)
	}
	if committed.Error != nil {
		return false, "", fmt.Errorf("fetch the group's committed offsets: %w", committed.Error)
	}
	got := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		got[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return false, "", fmt.Errorf("committed offset of %s/%d: %w", t, p.Partition, p.Error)
			}
			got[t][p.Partition] = p.CommittedOffset
		}
	}
	for _, t := range slices.Sorted(maps.Keys(want)) {
		for _, p := range slices.Sorted(maps.Keys(want[t])) {
			lr := want[t][p]
			c, ok := got[t][p]
			if !ok {
				c = -1
			}
			// A partition never committed (-1) is done when it holds
			// nothing (any more: retention) to consume.
			if max(c, lr.First) < lr.End {
				return false, fmt.Sprintf("%s/%d committed %d of %d", t, p, c, lr.End), nil
			}
		}
	}
	return true, "", nil
}
