package flow

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
)

// Home agrees with the producer the generator and the tests use
// (kafka-go's Murmur2Balancer, the Java client's partitioner) on keys of
// every length and on non-ASCII bytes.
func TestHomeIsMurmur2(t *testing.T) {
	b := &kafka.Murmur2Balancer{}
	for _, n := range []int{1, 2, 3, 4, 7, 12, 64} {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for i := range 2000 {
			key := fmt.Sprintf("u%0*d", i%13, i)
			if i%5 == 0 {
				key += "é\x00\xff"
			}
			if want := b.Balance(kafka.Message{Key: []byte(key)}, parts...); Home(key, n) != want {
				t.Fatalf("Home(%q, %d) = %d, Murmur2Balancer says %d", key, n, Home(key, n), want)
			}
		}
	}
}

// BenchmarkHome is the routing's cost per event, for a
// key of the generator's shape.
func BenchmarkHome(b *testing.B) {
	key := "u0001585"
	n := 0
	for b.Loop() {
		n += Home(key, 12)
	}
	_ = n
}
