package source

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// An event's key is its user_id, else its anonymous_id; its home is where
// the Java client's murmur2 partitioner puts that key among R partitions;
// it takes the direct path only at home, on the member owning that home.
func TestRouteHomeAndDirectPath(t *testing.T) {
	rt := &Routing{Homes: 4, Owned: map[int]bool{0: true, 2: true}}
	all := []int{0, 1, 2, 3}
	for _, c := range []struct {
		it  flow.Item
		key string
	}{
		{flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{UserID: "u1", AnonymousID: "a1"}}, "u1"},
		{flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{AnonymousID: "a1"}}, "a1"},
		{flow.Item{Kind: flow.KindConversion, CV: schemas.Conversion{UserID: "u2"}}, "u2"},
		{flow.Item{Kind: flow.KindConversion, CV: schemas.Conversion{AnonymousID: "device-9"}}, "device-9"},
	} {
		key, home := rt.route(&c.it)
		want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(c.key)}, all...)
		if key != c.key || home != want {
			t.Errorf("route: key %q home %d; want %q, %d", key, home, c.key, want)
		}
		for p := range 4 {
			if got := rt.direct(p, home); got != (p == home && rt.Owned[home]) {
				t.Errorf("key %q (home %d) consumed from partition %d: direct %v", key, home, p, got)
			}
		}
	}
	// The README's example: u1's home among 4 is 0; CRC32 (kcat's default)
	// puts it in partition 2, so it is forwarded.
	if _, home := rt.route(&flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{UserID: "u1"}}); home != 0 {
		t.Errorf("home of u1 among 4: %d, the README says 0", home)
	}
	if p := (kafka.CRC32Balancer{}).Balance(kafka.Message{Key: []byte("u1")}, all...); p != 2 {
		t.Errorf("CRC32 partition of u1 among 4: %d, the README says 2", p)
	}
}
