package sessionize

import (
	"fmt"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// heavyUser returns n touchpoints of one user, in time order over 20 days
// (all inside the default 30-day lookback), with canonical UUID ids or
// text ids, and a conversion after the last.
func heavyUser(n int, uuidIDs bool) ([]flow.Item, schemas.Conversion) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	step := int64(20*24*time.Hour/time.Millisecond) / int64(n)
	items := make([]flow.Item, n)
	for i := range items {
		id := fmt.Sprintf("tp-%d", i)
		if uuidIDs {
			id = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		}
		items[i] = flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{
			EventID: id, UserID: "heavy", TimeMs: start + int64(i)*step,
			Channel: "display", Source: "gdn", Medium: "display", Campaign: fmt.Sprint("c", i%7),
		}}
	}
	cv := schemas.Conversion{EventID: "heavy-cv", UserID: "heavy", TimeMs: start + int64(n)*step, RevenueMicros: 100_000_000, Currency: "EUR"}
	return items, cv
}

// BenchmarkHeavyUser applies 100k touchpoints of one user to a shard, then
// credits one conversion to them with every model: the cost of one heavy
// user (a bot, a shared device) to its shard. ns/op is for all of it;
// tp/s is touchpoints applied per second; rows/conversion the credited
// rows that one conversion writes.
func BenchmarkHeavyUser(b *testing.B) {
	const n = 100_000
	for _, ids := range []string{"uuid", "text"} {
		b.Run("ids="+ids, func(b *testing.B) {
			items, cv := heavyUser(n, ids == "uuid")
			cfg := Config{}.WithDefaults()
			var rows int
			for b.Loop() {
				s := newTestShard(b, &cfg, nil, nil, &flow.Stats{})
				for i := range items {
					s.touchpoint(&items[i], items[i].TP.Key())
					if len(s.u.TPs) >= 512 {
						s.u = &flow.Unit{} // what the sink would take
					}
				}
				s.attribute(s.user(cv.Key(), 0), &released{cv: cv})
				rows = s.u.Credits.Rows()
				s.u = &flow.Unit{}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tp/s")
			b.ReportMetric(float64(rows), "rows/conversion")
		})
	}
}
