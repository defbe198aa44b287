package source

import (
	"sort"

	"github.com/segmentio/kafka-go"
)

// CoPartitionBalancer assigns partition N of every subscribed topic of the
// same partition count to the same member: repartition partition r (home
// r) and partition r of every input topic of R partitions share a member,
// so that input keyed by the attribution key with murmur2 takes the direct
// path. Input topics of other counts are spread over the members the same
// way; their events reach their homes through the repartition topic.
// Members are ordered by ID and partition numbers are split into
// contiguous ranges, like Kafka's range assignor, but without depending on
// the order in which metadata lists partitions.
type CoPartitionBalancer struct{}

var _ kafka.GroupBalancer = CoPartitionBalancer{}

func (CoPartitionBalancer) ProtocolName() string      { return "attributor-copartition" }
func (CoPartitionBalancer) UserData() ([]byte, error) { return nil, nil }

func (CoPartitionBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	sort.Strings(ids)
	byTopic := map[string][]int{}
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
	}
	out := kafka.GroupMemberAssignments{}
	for _, id := range ids {
		out[id] = map[string][]int{}
	}
	subscribed := map[string]map[string]bool{}
	for _, m := range members {
		subscribed[m.ID] = map[string]bool{}
		for _, t := range m.Topics {
			subscribed[m.ID][t] = true
		}
	}
	for topic, parts := range byTopic {
		sort.Ints(parts)
		var subs []string
		for _, id := range ids {
			if subscribed[id][topic] {
				subs = append(subs, id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		for i, p := range parts {
			// Member k takes the partitions in [k*P/M, (k+1)*P/M).
			k := i * len(subs) / len(parts)
			if len(subs) > len(parts) {
				k = i
			}
			out[subs[k]][topic] = append(out[subs[k]][topic], p)
		}
	}
	return out
}
