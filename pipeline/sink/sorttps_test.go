package sink

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// benchUnits returns n touchpoints of random users in arrival order, in
// units of 64 as shards hand them over.
func benchUnits(n int) []*flow.Unit {
	rng := rand.New(rand.NewPCG(1, 2))
	var units []*flow.Unit
	ts := int64(1_790_000_000_000)
	for i := 0; i < n; i += 64 {
		u := &flow.Unit{}
		for k := 0; k < 64 && i+k < n; k++ {
			ts += rng.Int64N(20)
			u.TPs = append(u.TPs, flow.TPRow{TP: schemas.Touchpoint{
				EventID: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff),
				UserID:  fmt.Sprintf("u%07d", rng.IntN(100_000)),
				TimeMs:  ts, Interaction: "click", Channel: "email",
			}})
		}
		units = append(units, u)
	}
	return units
}

func BenchmarkSortTPs(b *testing.B) {
	units := benchUnits(55_000)
	var order []*flow.TPRow
	var keys, tmp []tpOrder
	for b.Loop() {
		order = order[:0]
		for _, u := range units {
			for k := range u.TPs {
				order = append(order, &u.TPs[k])
			}
		}
		keys, tmp = sortTPs(order, keys, tmp)
	}
}

// TestSortTPsInTableOrder: the rows come out in touchpoints' sorting key
// order (user_key, ts_ms, event_id), bytewise, as a plain comparison sort
// puts them, whatever the keys look like: sharing 8 bytes or more, shorter
// than 8, holding zero bytes, anonymous (user_key from anonymous_id), one
// user's touchpoints in one millisecond, replayed copies.
func TestSortTPsInTableOrder(t *testing.T) {
	keys := []string{"", "a", "a\x00", "a\x00\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj", "abcdefgg",
		"u0019063", "u0019064", "user_000000000001", "user_000000000002", "\xff\xff", "Z", "zz"}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 3, 50, 5000} {
		var rows []flow.TPRow
		for i := range n {
			tp := schemas.Touchpoint{EventID: fmt.Sprintf("e%d", rng.IntN(40)), TimeMs: int64(rng.IntN(5)) - 2}
			if k := keys[rng.IntN(len(keys))]; rng.IntN(3) == 0 {
				tp.AnonymousID = k
			} else {
				tp.UserID, tp.AnonymousID = k, "device"
			}
			rows = append(rows, flow.TPRow{TP: tp, Partition: int32(i)})
			if rng.IntN(10) == 0 { // a replayed copy
				rows = append(rows, rows[len(rows)-1])
			}
		}
		var got []*flow.TPRow
		for i := range rows {
			got = append(got, &rows[i])
		}
		want := slices.Clone(got)
		slices.SortStableFunc(want, func(a, b *flow.TPRow) int {
			return cmp.Or(strings.Compare(a.TP.Key(), b.TP.Key()), cmp.Compare(a.TP.TimeMs, b.TP.TimeMs), strings.Compare(a.TP.EventID, b.TP.EventID))
		})
		var scratch, tmp []tpOrder
		for range 2 { // again with the scratch space of the first
			g := slices.Clone(got)
			scratch, tmp = sortTPs(g, scratch, tmp)
			if len(g) != len(want) {
				t.Fatalf("%d rows: got %d back", len(want), len(g))
			}
			for i := range g {
				a, b := g[i], want[i]
				if a.TP.Key() != b.TP.Key() || a.TP.TimeMs != b.TP.TimeMs || a.TP.EventID != b.TP.EventID {
					t.Fatalf("%d rows: row %d is (%q, %d, %q), want (%q, %d, %q)", n, i, a.TP.Key(), a.TP.TimeMs, a.TP.EventID, b.TP.Key(), b.TP.TimeMs, b.TP.EventID)
				}
			}
			seen := map[int32]int{}
			for _, r := range g {
				seen[r.Partition]++
			}
			for _, r := range want {
				seen[r.Partition]--
			}
			for p, c := range seen {
				if c != 0 {
					t.Fatalf("%d rows: row %d came back %+d times too often", n, p, c)
				}
			}
		}
	}
}
