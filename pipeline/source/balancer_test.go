package source

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

func members(topics []string, ids ...string) []kafka.GroupMember {
	out := make([]kafka.GroupMember, len(ids))
	for i, id := range ids {
		out[i] = kafka.GroupMember{ID: id, Topics: topics}
	}
	return out
}

func partitions(n int, topics ...string) []kafka.Partition {
	var out []kafka.Partition
	for _, t := range topics {
		for p := 0; p < n; p++ {
			out = append(out, kafka.Partition{Topic: t, ID: p})
		}
	}
	return out
}

// checkCoPartitioned fails t unless every partition of every topic has
// exactly one owner, and partition N has the same owner in every topic.
func checkCoPartitioned(t *testing.T, a kafka.GroupMemberAssignments, topics []string, n int) {
	t.Helper()
	owner := map[int]string{}
	for _, topic := range topics {
		seen := map[int]string{}
		for m, ts := range a {
			for _, p := range ts[topic] {
				if other, dup := seen[p]; dup {
					t.Fatalf("%s/%d assigned to %s and %s", topic, p, other, m)
				}
				seen[p] = m
			}
		}
		for p := 0; p < n; p++ {
			m, ok := seen[p]
			if !ok {
				t.Fatalf("%s/%d assigned to nobody: %v", topic, p, a)
			}
			if o, ok := owner[p]; ok && o != m {
				t.Fatalf("partition %d: %s of %s, %s of %s: not co-partitioned: %v", p, topics[0], o, topic, m, a)
			}
			owner[p] = m
		}
	}
}

// Partition N of both topics always goes to the same member, whatever the
// order in which members and partitions are listed; members are taken in
// ID order and get contiguous ranges.
func TestCoPartitionBalancer(t *testing.T) {
	topics := []string{"touchpoints", "conversions"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		parts int
		ids   []string
		want  map[string][]int // partitions per member, the same in both topics
	}{
		{4, []string{"a"}, map[string][]int{"a": {0, 1, 2, 3}}},
		{4, []string{"b", "a"}, map[string][]int{"a": {0, 1}, "b": {2, 3}}},
		{4, []string{"c", "a", "b"}, map[string][]int{"a": {0, 1}, "b": {2}, "c": {3}}},
		{5, []string{"m2", "m1"}, map[string][]int{"m1": {0, 1, 2}, "m2": {3, 4}}},
		{8, []string{"d", "c", "b", "a"}, map[string][]int{"a": {0, 1}, "b": {2, 3}, "c": {4, 5}, "d": {6, 7}}},
		// More members than partitions: one partition each, the rest idle.
		{2, []string{"c", "b", "a"}, map[string][]int{"a": {0}, "b": {1}, "c": nil}},
	} {
		t.Run(fmt.Sprintf("%d partitions %v", tc.parts, tc.ids), func(t *testing.T) {
			for shuffle := 0; shuffle < 10; shuffle++ {
				ms := members(topics, tc.ids...)
				ps := partitions(tc.parts, topics...)
				rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
				rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				a := CoPartitionBalancer{}.AssignGroups(ms, ps)
				checkCoPartitioned(t, a, topics, tc.parts)
				for id, want := range tc.want {
					for _, topic := range topics {
						got := slices.Clone(a[id][topic])
						slices.Sort(got)
						if len(want) == 0 && len(got) == 0 {
							continue
						}
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("member %s, %s: %v, want %v (all: %v)", id, topic, got, want, a)
						}
					}
				}
			}
		})
	}
}

// Every member is in the assignment, even one left without partitions, so
// that kafka-go's SyncGroup tells it so.
func TestCoPartitionBalancerListsIdleMembers(t *testing.T) {
	a := CoPartitionBalancer{}.AssignGroups(members([]string{"t"}, "a", "b", "c"), partitions(1, "t"))
	for _, id := range []string{"a", "b", "c"} {
		if _, ok := a[id]; !ok {
			t.Errorf("member %s missing from the assignment %v", id, a)
		}
	}
}

// With the repartition topic of R partitions beside input topics of other
// counts, repartition partition r and partition r of every input topic of
// R partitions share a member (the direct path); the inputs of other
// counts are spread, every partition owned once, over all members.
func TestRepartitionCoPartitionedOthersSpread(t *testing.T) {
	topics := []string{"tp", "cv", "sp", "g.repartition"}
	parts := append(append(partitions(4, "tp", "g.repartition"), partitions(3, "cv")...), partitions(2, "sp")...)
	for _, n := range []int{1, 2, 3, 5} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("m%d", i)
		}
		a := CoPartitionBalancer{}.AssignGroups(members(topics, ids...), parts)
		checkCoPartitioned(t, a, []string{"g.repartition", "tp"}, 4)
		used := map[string]bool{}
		for topic, count := range map[string]int{"cv": 3, "sp": 2} {
			seen := map[int]int{}
			for m, ts := range a {
				for _, p := range ts[topic] {
					seen[p]++
					used[m] = true
				}
			}
			for p := range count {
				if seen[p] != 1 {
					t.Errorf("%d members: %s/%d owned %d times: %v", n, topic, p, seen[p], a)
				}
			}
		}
		if want := min(n, 3); len(used) != want {
			t.Errorf("%d members: the 3-partition topic is spread over %d members, want %d: %v", n, len(used), want, a)
		}
	}
}
