package source

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
