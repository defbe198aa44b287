package sink

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
)

// unsentConn is a ClickHouse connection that refuses every insert at
// PrepareBatch: the sink's column buffers are filled, nothing is sent.
type unsentConn struct{ driver.Conn }

var errUnsent = errors.New("not sent")

func (unsentConn) PrepareBatch(context.Context, string, ...driver.PrepareBatchOption) (driver.Batch, error) {
	return nil, errUnsent
}

// creditUnit returns a unit of convs conversions credited over paths of 4
// touchpoints by one model: 4 rows each, with ids and campaigns as long as
// the generated traffic's.
func creditUnit(first, convs int) *flow.Unit {
	u := &flow.Unit{}
	cr := &u.Credits
	cr.Models = []string{"linear"}
	for i := range convs {
		n := first + i
		cr.Sets = append(cr.Sets, flow.CreditSet{
			ConversionID: fmt.Sprintf("c0a8e1f2-0000-4000-8000-%012d", n), ConversionType: "purchase",
			UserKey: fmt.Sprintf("u%07d", n), Currency: "EUR", TimeMs: 1_764_201_600_000 + int64(n),
			Path: uint32(len(cr.Path)), PathLen: 4, Cells: uint32(len(cr.Cells)), CellsLen: 4,
		})
		for k := range 4 {
			cr.Path = append(cr.Path, attribution.Touchpoint{ID: fmt.Sprintf("70a8e1f2-0000-4000-8000-%012d", 4*n+k),
				TimeMs: 1_764_201_000_000 + int64(n), Channel: "paid_search", Source: "google", Medium: "cpc",
				Campaign: fmt.Sprintf("u%d-black-friday-brand", 4*n+k)})
			cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: .25, Revenue: 2_500_000, Position: uint32(k + 1)})
		}
	}
	return u
}

// heldMiB is what a writer's credited-row buffers hold, in MiB.
func heldMiB(cols *insertColumns) float64 {
	_, held := bufferBytes(reflect.ValueOf(&cols.credit).Elem())
	return float64(held) / (1 << 20)
}

// One outsized batch (100,000 rows) no longer pins its buffers: after the
// retainBatches small inserts that follow it, the writer holds what the
// small ones need. Before, it held the outsized batch's 20+ MiB for good.
// Inserts of a steady size keep their buffers (no churn).
func TestInsertBuffersShrinkAfterOutsizedBatch(t *testing.T) {
	ctx := context.Background()
	cols := &insertColumns{}
	insert := func(u *flow.Unit) {
		if err := insertRows(ctx, unsentConn{}, "db", tableCredited, []*flow.Unit{u}, cols); !errors.Is(err, errUnsent) {
			t.Fatalf("insert = %v, want the fake's refusal", err)
		}
	}
	small := creditUnit(0, 250) // 1,000 rows
	insert(small)
	steady := heldMiB(cols)
	for range 3 * retainBatches {
		insert(small)
		if got := heldMiB(cols); got != steady {
			t.Fatalf("steady inserts: buffers went from %.2f to %.2f MiB (released and regrown)", steady, got)
		}
	}
	insert(creditUnit(0, 25_000)) // 100,000 rows
	big := heldMiB(cols)
	if big < 20*steady {
		t.Fatalf("outsized batch holds %.2f MiB, small ones %.2f: the test needs a larger batch", big, steady)
	}
	for range retainBatches {
		insert(small)
	}
	if got := heldMiB(cols); got > 2*steady {
		t.Errorf("after %d small inserts the buffers hold %.2f MiB, want about the %.2f MiB small inserts need (outsized batch: %.2f MiB)",
			retainBatches, got, steady, big)
	}
}

// BenchmarkInsertBuffersAfterOutsizedBatch measures the heap a writer
// keeps after one outsized credited batch (100,000 rows) followed by 32
// inserts of 1,000 rows, with and without the retention bound (the heap is
// read after a GC, with the columns still referenced).
func BenchmarkInsertBuffersAfterOutsizedBatch(b *testing.B) {
	ctx := context.Background()
	small, big := creditUnit(0, 250), creditUnit(0, 25_000)
	for _, bound := range []bool{false, true} {
		b.Run(fmt.Sprintf("bound=%v", bound), func(b *testing.B) {
			var heldMB, heapMB float64
			for b.Loop() {
				cols := &insertColumns{}
				insert := func(u *flow.Unit) {
					if bound {
						insertRows(ctx, unsentConn{}, "db", tableCredited, []*flow.Unit{u}, cols)
					} else {
						cols.credit.insert(ctx, unsentConn{}, "db", []*flow.Unit{u}) // as before the bound
					}
				}
				insert(big)
				for range 2 * retainBatches {
					insert(small)
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heldMB, heapMB = heldMiB(cols), float64(ms.HeapInuse)/(1<<20)
				runtime.KeepAlive(cols)
			}
			b.ReportMetric(heldMB, "MiB-held")
			b.ReportMetric(heapMB, "MiB-heap-inuse")
		})
	}
}
