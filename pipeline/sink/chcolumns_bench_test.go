package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// touchpointUnits returns units of 256 touchpoints each, rows in all, with
// ids and strings as long as the generated traffic's.
func touchpointUnits(rows int) []*flow.Unit {
	var units []*flow.Unit
	for n := 0; n < rows; {
		u := &flow.Unit{}
		for range min(256, rows-n) {
			u.TPs = append(u.TPs, flow.TPRow{TP: schemas.Touchpoint{
				EventID: fmt.Sprintf("70a8e1f2-0000-4000-8000-%012d", n), UserID: fmt.Sprintf("u%07d", n%50_000),
				TimeMs: 1_764_201_000_000 + int64(n), Interaction: schemas.InteractionClick, Channel: "paid_search",
				Source: "google", Medium: "cpc", Campaign: fmt.Sprintf("black-friday-%d", n%40), Cost: 0.25,
			}, SessionStart: 1_764_201_000_000, Partition: int32(n % 4)})
			n++
		}
		units = append(units, u)
	}
	return units
}

// Every column equal whether the writer's buffers start empty, hold a
// larger batch's room, or are filled again: grow changes room, not values.
func TestTouchpointColumnsSameWhateverTheRoom(t *testing.T) {
	ctx := context.Background()
	fill := func(c *tpColumnsBuf, units []*flow.Unit) {
		if err := c.insert(ctx, unsentConn{}, "db", units); !errors.Is(err, errUnsent) {
			t.Fatalf("insert = %v, want the fake's refusal", err)
		}
	}
	small, big := touchpointUnits(1_000), touchpointUnits(5_000)
	var fresh tpColumnsBuf
	fill(&fresh, small)
	var reused tpColumnsBuf
	fill(&reused, big)
	fill(&reused, small)
	for i, pair := range [][2]any{
		{fresh.id, reused.id}, {fresh.key, reused.key}, {fresh.uid, reused.uid}, {fresh.aid, reused.aid},
		{fresh.inter, reused.inter}, {fresh.ch, reused.ch}, {fresh.src, reused.src}, {fresh.med, reused.med},
		{fresh.camp, reused.camp}, {fresh.ts, reused.ts}, {fresh.sess, reused.sess}, {fresh.date, reused.date},
		{fresh.cost, reused.cost}, {fresh.part, reused.part}, {fresh.late, reused.late},
	} {
		if a, b := fmt.Sprint(pair[0]), fmt.Sprint(pair[1]); a != b {
			t.Errorf("column %d differs between fresh and reused buffers", i)
		}
	}
	if fresh.id.Rows() != 1_000 || string(fresh.id.Buf[fresh.id.Pos[999].Start:fresh.id.Pos[999].End]) != small[3].TPs[231].TP.EventID {
		t.Errorf("fresh buffers: %d rows, last id wrong", fresh.id.Rows())
	}
}

// BenchmarkTouchpointColumns fills a writer's touchpoint columns with a
// catch-up batch (50,000 rows in units of 256) from empty buffers, as
// every writer does for its first batches and after retention released
// them (cold), and into buffers already grown (warm). Nothing is sent.
func BenchmarkTouchpointColumns(b *testing.B) {
	ctx := context.Background()
	units := touchpointUnits(50_000)
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("warm=%v", warm), func(b *testing.B) {
			var c tpColumnsBuf
			b.ReportAllocs()
			for b.Loop() {
				if !warm {
					c = tpColumnsBuf{}
				}
				c.insert(ctx, unsentConn{}, "db", units)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50_000, "ns/row")
		})
	}
}
