package sink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// benchCredits returns n credited conversions as shards hand them over
// (units of 32, in conversion time order, random UUID ids, one day): paths
// of 1 to 8 touchpoints credited by 5 models, strings as long as the
// generated traffic's.
func benchCredits(n int) []*flow.Unit {
	rng := rand.New(rand.NewPCG(3, 4))
	uuid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
	}
	ts := int64(1_764_201_600_000)
	var units []*flow.Unit
	for i := 0; i < n; {
		u := &flow.Unit{}
		cr := &u.Credits
		cr.Models = []string{"first_touch", "last_touch", "linear", "time_decay", "position_based"}
		for k := 0; k < 32 && i < n; k++ {
			ts += rng.Int64N(100)
			set := flow.CreditSet{ConversionID: uuid(), ConversionType: "purchase", UserKey: fmt.Sprintf("u%07d", rng.IntN(100_000)),
				Currency: "EUR", TimeMs: ts, Version: 3, Path: uint32(len(cr.Path)), PathLen: uint32(1 + rng.IntN(8)), Cells: uint32(len(cr.Cells))}
			for p := range set.PathLen {
				cr.Path = append(cr.Path, attribution.Touchpoint{ID: uuid(), TimeMs: ts - int64(set.PathLen-p)*60_000,
					Channel: "paid_search", Source: "google", Medium: "cpc", Campaign: fmt.Sprintf("black-friday-%d", rng.IntN(40))})
			}
			for m := range 5 {
				for p := range set.PathLen {
					cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: 1 / float64(set.PathLen), Revenue: 1000, Position: p + 1, Model: uint16(m)})
				}
			}
			set.CellsLen = uint32(len(cr.Cells)) - set.Cells
			cr.Sets = append(cr.Sets, set)
			i++
		}
		units = append(units, u)
	}
	return units
}

// benchConversions returns n conversions as shards hand them over (units
// of 32, in time order, random users and UUID ids).
func benchConversions(n int) []*flow.Unit {
	rng := rand.New(rand.NewPCG(5, 6))
	ts := int64(1_764_201_600_000)
	var units []*flow.Unit
	for i := 0; i < n; {
		u := &flow.Unit{}
		for k := 0; k < 32 && i < n; k++ {
			ts += rng.Int64N(100)
			u.Convs = append(u.Convs, flow.ConvRow{CV: schemas.Conversion{
				EventID: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff),
				UserID:  fmt.Sprintf("u%07d", rng.IntN(100_000)), TimeMs: ts, ConversionType: "purchase", RevenueMicros: 12_340_000, Currency: "EUR",
			}, Partition: int32(i % 4)})
			i++
		}
		units = append(units, u)
	}
	return units
}

// BenchmarkCreditColumns and BenchmarkConversionColumns fill a writer's
// credited-row and conversion columns with a catch-up insert's rows (as
// scripts/bench.sh repartition's inserts hold: about 4,000 credited
// conversions and 10,000 conversions) from empty buffers (cold: a writer's
// first batches, or after retention released them) and into buffers
// already grown (warm). Nothing is sent.
func BenchmarkCreditColumns(b *testing.B) {
	ctx := context.Background()
	const n = 4_000
	units := benchCredits(n)
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("warm=%v", warm), func(b *testing.B) {
			var c creditColumnsBuf
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				if !warm {
					c = creditColumnsBuf{}
				}
				c.insert(ctx, unsentConn{}, "db", units)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
			b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/n, "cpu-ns/row")
		})
	}
}

func BenchmarkConversionColumns(b *testing.B) {
	ctx := context.Background()
	const n = 10_000
	units := benchConversions(n)
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("warm=%v", warm), func(b *testing.B) {
			var c convColumnsBuf
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				if !warm {
					c = convColumnsBuf{}
				}
				c.insert(ctx, unsentConn{}, "db", units)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
			b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/n, "cpu-ns/row")
		})
	}
}

// cpuNow is the process's CPU time so far (user and system, all threads:
// with GOMAXPROCS=1 the garbage collector's too), in ns: on a machine
// shared with other work, a benchmark's wall time also counts the time it
// waited for a core, its CPU time does not.
func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
