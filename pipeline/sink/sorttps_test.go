package sink

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

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
				TimeMs:  ts, Interaction: "click", Channel: "email", Source: "newsletter", Medium: "email", Campaign: "black_friday", Cost: 0.002,
			}, SessionStart: ts})
		}
		units = append(units, u)
	}
	return units
}

// BenchmarkSortedTouchpointColumns: building an insert's touchpoint columns,
// sorted, from rows in arrival order, and encoding them as the insert
// sends them: 20,000 rows (a live second at 20,000 events/s), 55,000 (a
// catch-up insert's share in scripts/bench.sh repartition) and 200,000
// (a full catch-up batch).
func BenchmarkSortedTouchpointColumns(b *testing.B) {
	for _, n := range []int{20_000, 55_000, 200_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			units := benchUnits(n)
			var c tpColumnsBuf
			var buf proto.Buffer
			for b.Loop() {
				buf.Reset()
				for _, col := range c.fill(units) {
					col.EncodeColumn(&buf)
				}
			}
		})
	}
}

// TestTouchpointColumnsInTableOrder: the columns come out in touchpoints'
// sorting key order (user_key, ts_ms, event_id), bytewise, as a plain
// comparison sort of the rows puts them, every column moved alike,
// whatever the keys look like: sharing 8 bytes or more, shorter than 8,
// holding zero bytes, anonymous (user_key from anonymous_id), one user's
// touchpoints in one millisecond, replayed copies; and again with the
// buffers of the insert before.
func TestTouchpointColumnsInTableOrder(t *testing.T) {
	keys := []string{"", "a", "a\x00", "a\x00\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj", "abcdefgg",
		"u0019063", "u0019064", "user_000000000001", "user_000000000002", "\xff\xff", "Z", "zz"}
	rng := rand.New(rand.NewPCG(7, 8))
	var c tpColumnsBuf
	for _, n := range []int{0, 1, 2, 3, 50, 5000, 70_000, 40} { // 70,000: above tpSortKeep
		var rows []flow.TPRow
		for i := range n {
			tp := schemas.Touchpoint{EventID: fmt.Sprintf("e%d", rng.IntN(40)), TimeMs: int64(rng.IntN(5)) - 2,
				Channel: fmt.Sprintf("ch%d", i), Cost: float64(i)}
			if k := keys[rng.IntN(len(keys))]; rng.IntN(3) == 0 {
				tp.AnonymousID = k
			} else {
				tp.UserID, tp.AnonymousID = k, "device"
			}
			rows = append(rows, flow.TPRow{TP: tp, SessionStart: int64(i), Partition: int32(i), TooLate: i%2 == 0})
			if rng.IntN(10) == 0 { // a replayed copy
				rows = append(rows, rows[len(rows)-1])
			}
		}
		byPart := make([]flow.TPRow, n) // a row and its copies by number
		for _, r := range rows {
			byPart[r.Partition] = r
		}
		// Two units, as a batch holds them.
		units := []*flow.Unit{{TPs: rows[:len(rows)/2]}, {TPs: rows[len(rows)/2:]}}
		want := slices.Clone(rows)
		slices.SortStableFunc(want, func(a, b flow.TPRow) int {
			return cmp.Or(strings.Compare(a.TP.Key(), b.TP.Key()), cmp.Compare(a.TP.TimeMs, b.TP.TimeMs), strings.Compare(a.TP.EventID, b.TP.EventID))
		})
		c.fill(units)
		if c.id.Rows() != len(want) {
			t.Fatalf("%d rows: %d in the columns", len(want), c.id.Rows())
		}
		seen := map[int32]int{}
		for i, w := range want {
			seen[w.Partition]++
			if c.key.Row(i) != w.TP.Key() || c.ts[i] != w.TP.TimeMs || c.id.Row(i) != w.TP.EventID {
				t.Fatalf("%d rows: row %d is (%q, %d, %q), want (%q, %d, %q)", len(want), i, c.key.Row(i), c.ts[i], c.id.Row(i), w.TP.Key(), w.TP.TimeMs, w.TP.EventID)
			}
			// Every column moved with its row: the row numbered by
			// kafka_partition is the one stored there.
			r := byPart[c.part[i]]
			if c.key.Row(i) != r.TP.Key() || c.ts[i] != r.TP.TimeMs || c.id.Row(i) != r.TP.EventID || c.uid.Row(i) != r.TP.UserID ||
				c.aid.Row(i) != r.TP.AnonymousID || c.ch.Row(i) != r.TP.Channel || c.cost[i] != r.TP.Cost || c.sess[i] != r.SessionStart ||
				c.late[i] != boolByte(r.TooLate) || c.date[i] != dayOf(r.TP.TimeMs) {
				t.Fatalf("%d rows: row %d's columns are not all of row %d", len(want), i, c.part[i])
			}
		}
		for _, p := range c.part {
			seen[p]--
		}
		for p, k := range seen {
			if k != 0 {
				t.Fatalf("%d rows: row %d came back %+d times too often", len(want), p, -k)
			}
		}
	}
}
