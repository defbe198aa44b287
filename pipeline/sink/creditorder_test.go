package sink

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// randomCredits returns units holding n credited sets in arrival order:
// ids sharing 8 bytes or more, shorter than 8, versions of one conversion
// in one batch, several days, retractions, paths of 0 to 5 touchpoints,
// one or two models (one with fits), and sets with every model skipped.
func randomCredits(rng *rand.Rand, n int) []*flow.Unit {
	ids := []string{"", "a", "a\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj", "abcdefgg",
		"c0a8e1f2-0000-4000-8000-000000000001", "c0a8e1f2-0000-4000-8000-000000000002", "\xff\xff", "Z"}
	day := int64(86_400_000)
	var units []*flow.Unit
	for i := 0; i < n; {
		u := &flow.Unit{}
		cr := &u.Credits
		cr.Models = []string{"linear", "markov"}
		for k := 0; k < 1+rng.IntN(30) && i < n; k++ {
			set := flow.CreditSet{
				ConversionID: ids[rng.IntN(len(ids))] + fmt.Sprint(rng.IntN(3)), ConversionType: fmt.Sprintf("t%d", i),
				UserKey: fmt.Sprintf("u%d", rng.IntN(9)), Currency: "EUR", TimeMs: 1_764_000_000_000 + rng.Int64N(3)*day + int64(i),
				Version: uint32(i), Path: uint32(len(cr.Path)), Cells: uint32(len(cr.Cells)),
			}
			switch rng.IntN(8) {
			case 0:
				set.Retract, set.Version = true, flow.RetractVersion
			case 1: // every model skipped
			default:
				set.PathLen = uint32(rng.IntN(6))
				for p := range set.PathLen {
					cr.Path = append(cr.Path, attribution.Touchpoint{ID: fmt.Sprintf("tp%d-%d", i, p), TimeMs: int64(i*10) + int64(p),
						Impression: rng.IntN(2) == 0, Channel: fmt.Sprintf("ch%d", p), Source: "s", Medium: "m", Campaign: fmt.Sprintf("camp%d", i)})
				}
				models := 1 + rng.IntN(2)
				if models == 2 {
					set.FitIDs = []string{"", fmt.Sprintf("fit%d", i)}
				}
				stride := max(int(set.PathLen), 1)
				for m := range models {
					for p := range stride {
						cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: float64(p) / 8, Revenue: int64(1000*i + p), Position: uint32(p + 1), Model: uint16(m)})
					}
				}
				set.CellsLen = uint32(len(cr.Cells)) - set.Cells
			}
			cr.Sets = append(cr.Sets, set)
			i++
		}
		units = append(units, u)
	}
	return units
}

// inOrder returns one unit holding the sets of units in the order a plain
// stable sort by (conversion_date, conversion_id) puts them, each with its
// own path and cells.
func inOrder(units []*flow.Unit) *flow.Unit {
	type ref struct {
		cr  *flow.Credits
		set flow.CreditSet
	}
	var refs []ref
	for _, u := range units {
		for _, s := range u.Credits.Sets {
			refs = append(refs, ref{&u.Credits, s})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		return cmp.Or(cmp.Compare(dayOf(a.set.TimeMs), dayOf(b.set.TimeMs)), strings.Compare(a.set.ConversionID, b.set.ConversionID))
	})
	out := &flow.Unit{}
	cr := &out.Credits
	cr.Models = units[0].Credits.Models
	for _, r := range refs {
		s := r.set
		cr.Path = append(cr.Path, r.cr.Path[s.Path:s.Path+s.PathLen]...)
		cr.Cells = append(cr.Cells, r.cr.Cells[s.Cells:s.Cells+s.CellsLen]...)
		s.Path, s.Cells = uint32(len(cr.Path))-s.PathLen, uint32(len(cr.Cells))-s.CellsLen
		cr.Sets = append(cr.Sets, s)
	}
	return out
}

// columnsText is every column's values, for comparing two fills.
func columnsText(t *testing.T, cols []proto.ColInput) []string {
	t.Helper()
	var out []string
	for _, c := range cols {
		v, err := appendValues(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%q", v))
	}
	return out
}

// TestCreditColumnsInTableOrder: the credited rows come out in
// attributed_conversions' sorting key order (conversion_date,
// conversion_id; ids compared bytewise as ClickHouse compares them), rows
// equal in the key in arrival order: every column equal to what the same
// sets give when they arrive in that order (a plain stable sort of the
// sets), whatever the buffers held before. It fails with the sort left out.
func TestCreditColumnsInTableOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var c creditColumnsBuf
	for _, n := range []int{1, 2, 3, 40, 2000, 20_000, 40} { // 20,000: above setRefsKeep
		units := randomCredits(rng, n)
		got := columnsText(t, c.fill(units))
		var sorted creditColumnsBuf
		want := columnsText(t, sorted.fill([]*flow.Unit{inOrder(units)}))
		if !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%d sets: column %d (of %s) differs from the sets sorted by (conversion_date, conversion_id)", n, i, creditColumns)
				}
			}
		}
		if n >= 40 && c.cid.Rows() < n/2 {
			t.Fatalf("%d sets: only %d rows", n, c.cid.Rows())
		}
	}
}

// The credited and conversion columns are the same whether the writer's
// buffers start empty, hold a larger batch's room, or are filled again:
// grow changes room, not values.
func TestCreditAndConversionColumnsSameWhateverTheRoom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	small, big := randomCredits(rng, 500), randomCredits(rng, 3000)
	var fresh, reused creditColumnsBuf
	want := columnsText(t, fresh.fill(small))
	reused.fill(big)
	if got := columnsText(t, reused.fill(small)); !slices.Equal(got, want) {
		t.Error("credited columns differ between fresh and reused buffers")
	}
	smallCv, bigCv := conversionUnits(rng, 500), conversionUnits(rng, 3000)
	var freshCv, reusedCv convColumnsBuf
	want = columnsText(t, freshCv.fill(smallCv))
	reusedCv.fill(bigCv)
	if got := columnsText(t, reusedCv.fill(smallCv)); !slices.Equal(got, want) {
		t.Error("conversion columns differ between fresh and reused buffers")
	}
}

// conversionUnits returns n conversions in arrival order, in units of up
// to 64: keys sharing 8 bytes or more, anonymous ones, one user's
// conversions in one millisecond, replayed copies (the same key, other
// values).
func conversionUnits(rng *rand.Rand, n int) []*flow.Unit {
	keys := []string{"", "a", "a\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgg", "u0019063", "\xff\xff", "Z"}
	var units []*flow.Unit
	for i := 0; i < n; {
		u := &flow.Unit{}
		for k := 0; k < 64 && i < n; k++ {
			cv := schemas.Conversion{EventID: fmt.Sprintf("c%d", rng.IntN(30)), TimeMs: int64(rng.IntN(4)),
				ConversionType: fmt.Sprintf("t%d", i), RevenueMicros: int64(i), Currency: "EUR"}
			if key := keys[rng.IntN(len(keys))]; rng.IntN(3) == 0 {
				cv.AnonymousID = key
			} else {
				cv.UserID, cv.AnonymousID = key, "device"
			}
			u.Convs = append(u.Convs, flow.ConvRow{CV: cv, Partition: int32(i)})
			i++
		}
		units = append(units, u)
	}
	return units
}

// TestConversionColumnsInTableOrder: the conversions come out in
// conversions' sorting key order (user_key, ts_ms, event_id), rows equal
// in the key (replayed copies) in arrival order, every column moved with
// its row: equal to the columns of the same conversions arriving in the
// order of a plain stable sort. It fails with the sort left out.
func TestConversionColumnsInTableOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var c convColumnsBuf
	for _, n := range []int{0, 1, 2, 3, 50, 5000, 20_000, 40} {
		units := conversionUnits(rng, n)
		var rows []flow.ConvRow
		for _, u := range units {
			rows = append(rows, u.Convs...)
		}
		slices.SortStableFunc(rows, func(a, b flow.ConvRow) int {
			return cmp.Or(strings.Compare(a.CV.Key(), b.CV.Key()), cmp.Compare(a.CV.TimeMs, b.CV.TimeMs), strings.Compare(a.CV.EventID, b.CV.EventID))
		})
		got := columnsText(t, c.fill(units))
		var sorted convColumnsBuf
		if want := columnsText(t, sorted.fill([]*flow.Unit{{Convs: rows}})); !slices.Equal(got, want) {
			t.Fatalf("%d conversions: columns differ from the rows sorted by (user_key, ts_ms, event_id)", n)
		}
		if c.id.Rows() != n {
			t.Fatalf("%d conversions: %d rows", n, c.id.Rows())
		}
	}
}
