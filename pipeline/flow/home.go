package flow

// Home is the home of key among homes repartition partitions: the
// partition the Java client's default partitioner (and kafka-go's
// Murmur2Balancer) gives key on a topic of that many partitions, the
// positive murmur2 hash of the key's bytes modulo homes. The owner of that
// repartition partition holds the key's state; input keyed and
// partitioned so takes the direct path.
func Home(key string, homes int) int {
	return int((murmur2(key) & 0x7fffffff) % uint32(homes))
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
