package sessionize

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// heldOutput keeps every unit it is sent, as the sink holds a catch-up's
// units for a second or more (their batch's inserts), past the garbage
// collections that empty flow.UnitPool: the shard's next unit is a fresh
// one, with no room yet.
type heldOutput struct {
	seq  atomic.Uint64
	held []*flow.Unit
}

func (o *heldOutput) Send(_ context.Context, _ int, seq uint64, u *flow.Unit) bool {
	o.held = append(o.held, u)
	o.seq.Store(seq)
	return true
}

func (o *heldOutput) Acked(int) uint64 { return o.seq.Load() }

// creditItems returns users x (4 touchpoints, then a conversion 10 s after
// the last) in time order, with a mark after every 256 items, so that the
// conversions are released (credited by every default model) batch after
// batch as the watermark passes them.
func creditItems(users int) []flow.Item {
	base := int64(1_764_201_600_000)
	var items []flow.Item
	for i := range users {
		key := fmt.Sprintf("u%07d", i)
		ms := base + int64(i)*100
		for k := range 4 {
			items = append(items, flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{
				EventID: fmt.Sprintf("70a8e1f2-0000-4000-8000-%012d", 4*i+k), UserID: key, TimeMs: ms + int64(k),
				Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc",
				Campaign: fmt.Sprintf("black-friday-%d", (i+k)%40)}})
		}
		items = append(items, flow.Item{Kind: flow.KindConversion, CV: schemas.Conversion{
			EventID: fmt.Sprintf("c0a8e1f2-0000-4000-8000-%012d", i), UserID: key, TimeMs: ms + 10_000,
			ConversionType: "purchase", RevenueMicros: 10_000_000, Currency: "EUR"}})
	}
	// Conversions come 10 s after their touchpoints: in time order they
	// sit among later users' touchpoints.
	sortItemsByTime(items)
	var out []flow.Item
	for i, it := range items {
		out = append(out, it)
		if i%256 == 255 {
			out = append(out, flow.Item{Kind: flow.KindMark, WM: itemTime(&it), CaughtUp: false})
		}
	}
	return out
}

func itemTime(it *flow.Item) int64 {
	if it.Kind == flow.KindConversion {
		return it.CV.TimeMs
	}
	return it.TP.TimeMs
}

func sortItemsByTime(items []flow.Item) {
	slices.SortStableFunc(items, func(a, b flow.Item) int { return cmp.Compare(itemTime(&a), itemTime(&b)) })
}

// BenchmarkShardCredits times a shard crediting conversions (20,000 users,
// 4 touchpoints and a conversion each, the default models) in batches of
// 257 items, with every unit it emits held (a fresh unit each time, as in
// a catch-up) or recycled at once (pooled=true). ns/op is per conversion.
func BenchmarkShardCredits(b *testing.B) {
	const users = 20_000
	items := creditItems(users)
	for _, pooled := range []bool{false, true} {
		b.Run(fmt.Sprintf("pooled=%v", pooled), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				cfg := Config{}.WithDefaults()
				var out Output = &heldOutput{}
				if pooled {
					out = &discardOutput{}
				}
				s := newTestShard(b, &cfg, out, nil, &flow.Stats{})
				b.StartTimer()
				for k := 0; k < len(items); k += 257 {
					if err := s.process(ctx, items[k:min(k+257, len(items))]); err != nil {
						b.Fatal(err)
					}
				}
				if h, ok := out.(*heldOutput); ok {
					sets := 0
					for _, u := range h.held {
						sets += len(u.Credits.Sets)
					}
					if sets < users*9/10 {
						b.Fatalf("%d of %d conversions credited", sets, users)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/users, "ns/conversion")
		})
	}
}
