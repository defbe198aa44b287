package source

// keyPartition is the partition that the Java client's default partitioner
// (and kafka-go's Murmur2Balancer, which the generator uses) gives key on a
// topic of n partitions: the positive murmur2 hash of the key's bytes,
// modulo n. It is a key's home among n repartition partitions (route):
// input keyed and partitioned so takes the direct path.
func keyPartition(key string, n int) int {
	return int((murmur2(key) & 0x7fffffff) % uint32(n))
}

// murmur2 is the Java client's Utils.murmur2, over the bytes of s.
func murmur2(s string) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m           = 0x5bd1e995
		r           = 24
	)
	n := len(s)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := n &^ 3
	switch n & 3 {
	case 3:
		h ^= uint32(s[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(s[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(s[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// misLogLimit is how many mis-partitioned messages a run logs one by one;
// the rest are only counted.
const misLogLimit = 10

// misPartitioned counts and reports (the first few, at info) a message
// consumed away from its key's home partition. It is forwarded there
// through the repartition topic and credited exactly as any other; the
// note says how producers can save that forward.
func (r *Source) misPartitioned(topic string, partition int, offset int64, msgKey []byte, key string, want int) {
	if topic == r.Cfg.TouchpointsTopic {
		r.Stats.MisTouchpoints.Add(1)
	} else {
		r.Stats.MisConversions.Add(1)
	}
	switch n := r.misLogged.Add(1); {
	case n <= misLogLimit:
		attrs := []any{"topic", topic, "partition", partition, "offset", offset, "key", clip(key, 64), "home_partition", want,
			"direct_path", "produce keyed by the attribution key (user_id, else anonymous_id) with the murmur2 partitioner into as many partitions as the repartition topic: the Java client's default, kcat -X partitioner=murmur2_random, kafka-go &kafka.Murmur2Balancer{}, librdkafka partitioner=murmur2_random"}
		if string(msgKey) != key {
			attrs = append(attrs, "message_key", clip(string(msgKey), 64))
		}
		r.Cfg.Logger.Info("message consumed away from its key's home partition: forwarded there through the repartition topic (credited as any other; the direct path saves the forward)", attrs...)
	case n == misLogLimit+1:
		r.Cfg.Logger.Info("more messages away from their key's home partition: counting them without logging each (attributor_events_mispartitioned_total, attributor_events_forwarded_total)")
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
