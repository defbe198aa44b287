package sink

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/attributor/attributor/pipeline/flow"
)

// A batch's credited rows go to ClickHouse sorted by attributed_conversions'
// sorting key, (conversion_date, conversion_id), as the touchpoints go
// sorted by theirs (tpsort.go): ClickHouse checks an inserted block's order
// before it sorts it and writes a sorted block as it comes, for the table
// and for its materialized views' blocks that keep the order. As for the
// touchpoints, the columns are filled in arrival order (the sets' paths
// and strings read as they lie in memory: appending the rows in sorted
// order cost a cache miss per path string, twice the filling's CPU in
// BenchmarkCreditColumns), then references to the rows (day, the id's
// first 8 bytes, row number) are sorted and every column is permuted
// through a spare one: a plain column's values, an Array column's row
// ranges (a String's positions only). Rows equal in the key (versions of
// one conversion in one batch) keep their arrival order.

// setRef is a credited set that makes a row: its sorting key and where it
// is (units[unit].Credits.Sets[set]), and its row in arrival order.
type setRef struct {
	prefix    uint64 // the conversion id's first 8 bytes, big-endian
	unit, set int32
	row       int32
	date      proto.Date
}

// creditSort is a writer's scratch space for ordering credited rows.
type creditSort struct {
	refs []setRef
	perm []int32
	ends []uint64
	u32  []uint32
	tp   tpSort // the spare columns of the other types
}

// setRefsKeep is the most rows whose scratch space a writer keeps from one
// insert to the next, as tpSortKeep for the touchpoints.
const setRefsKeep = 1 << 14

// rows returns the sets of units that make a row (retractions, and sets
// with cells), in arrival order.
func (c *creditColumnsBuf) rows(units []*flow.Unit) []setRef {
	refs := c.sort.refs[:0]
	for ui, u := range units {
		for si := range u.Credits.Sets {
			set := &u.Credits.Sets[si]
			if !set.Retract && set.CellsLen == 0 {
				// Every model was skipped (data-driven ones without a
				// fit): nothing credited, nothing to store, as the
				// row-per-credit layout stored no row either.
				continue
			}
			refs = append(refs, setRef{prefix: prefix8s(set.ConversionID), unit: int32(ui), set: int32(si), row: int32(len(refs)), date: dayOf(set.TimeMs)})
		}
	}
	c.sort.refs = refs
	return refs
}

// order sorts refs (rows) into attributed_conversions' order and returns
// the rows' numbers in that order, nil when they are in order already.
func (c *creditColumnsBuf) order(units []*flow.Unit, refs []setRef) []int32 {
	id := func(r setRef) string { return units[r.unit].Credits.Sets[r.set].ConversionID }
	less := func(a, b setRef) int {
		if c := cmp.Compare(a.date, b.date); c != 0 {
			return c
		}
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		if c := strings.Compare(id(a), id(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	}
	if slices.IsSortedFunc(refs, less) {
		return nil
	}
	slices.SortFunc(refs, less)
	perm := c.sort.perm[:0]
	for _, r := range refs {
		perm = append(perm, r.row)
	}
	c.sort.perm = perm
	return perm
}

// permute puts every column's rows in perm's order.
func (c *creditColumnsBuf) permute(perm []int32) {
	sc := &c.sort
	for _, s := range []*proto.ColStr{&c.cid, &c.ctyp, &c.key, &c.cur} {
		sc.tp.pos = permute(&s.Pos, perm, sc.tp.pos)
	}
	sc.tp.i64 = permute((*[]int64)(&c.cts), perm, sc.tp.i64)
	sc.tp.i64 = permute((*[]int64)(&c.rev), perm, sc.tp.i64)
	sc.tp.date = permute((*[]proto.Date)(&c.date), perm, sc.tp.date)
	sc.u32 = permute((*[]uint32)(&c.version), perm, sc.u32)
	sc.u32 = permute((*[]uint32)(&c.plen), perm, sc.u32)
	for _, a := range []*strArr{&c.tids, &c.chs, &c.srcs, &c.meds, &c.camps, &c.inters, &c.models, &c.fits} {
		sc.ends, sc.tp.pos = permuteRows(&a.Ends, &a.Data.Pos, perm, sc.ends, sc.tp.pos)
	}
	sc.ends, sc.tp.i64 = permuteRows(&c.tts.Ends, (*[]int64)(&c.tts.Data), perm, sc.ends, sc.tp.i64)
	sc.ends, sc.tp.i64 = permuteRows(&c.micros.Ends, (*[]int64)(&c.micros.Data), perm, sc.ends, sc.tp.i64)
	sc.ends, sc.tp.f64 = permuteRows(&c.fractions.Ends, (*[]float64)(&c.fractions.Data), perm, sc.ends, sc.tp.f64)
}

// permuteRows puts the rows of an Array column (each row's end in *ends,
// its elements in *data) in the order perm gives, through the scratch
// arrays, and returns the old arrays as the next scratch.
func permuteRows[T any](ends *proto.ColUInt64, data *[]T, perm []int32, scratchEnds []uint64, scratch []T) ([]uint64, []T) {
	outEnds, out := slices.Grow(scratchEnds[:0], len(perm)), slices.Grow(scratch[:0], len(*data))
	for _, p := range perm {
		var start uint64
		if p > 0 {
			start = (*ends)[p-1]
		}
		out = append(out, (*data)[start:(*ends)[p]]...)
		outEnds = append(outEnds, uint64(len(out)))
	}
	oldEnds, old := *ends, *data
	*ends, *data = outEnds, out
	return oldEnds[:0], old[:0]
}

// trim drops the scratch space of batches of more than setRefsKeep rows.
func (c *creditColumnsBuf) trim() {
	if cap(c.sort.refs) > setRefsKeep {
		c.sort = creditSort{}
	}
}

// prefix8s is prefix8 of a string.
func prefix8s(s string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(s) {
			p |= uint64(s[i])
		}
	}
	return p
}

// grow makes room in c for the rows of refs at once, as tpColumnsBuf.grow
// does for touchpoints: one pass over the sets adding up rows, array
// elements and string bytes, made only when the buffers have not yet held
// as many rows.
func (c *creditColumnsBuf) grow(units []*flow.Unit, refs []setRef) {
	rows := len(refs)
	if cap(c.cid.Pos) >= rows {
		return
	}
	var cid, ctyp, key, cur int                  // bytes of the conversion's strings
	var path, tid, ch, src, med, camp, inter int // path elements, their bytes
	var models, model, fit, cells int            // models credited, their bytes, cells
	for _, r := range refs {
		cr := &units[r.unit].Credits
		set := &cr.Sets[r.set]
		cid += len(set.ConversionID)
		ctyp += len(set.ConversionType)
		key += len(set.UserKey)
		cur += len(set.Currency)
		if set.Retract {
			continue
		}
		path += int(set.PathLen)
		for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
			tid += len(tp.ID)
			ch += len(tp.Channel)
			src += len(tp.Source)
			med += len(tp.Medium)
			camp += len(tp.Campaign)
			inter += len(interaction(tp.Impression))
		}
		stride := max(int(set.PathLen), 1)
		cellsOf := cr.Cells[set.Cells : set.Cells+set.CellsLen]
		for k := range len(cellsOf) / stride {
			m := cellsOf[k*stride].Model
			models++
			model += len(cr.Models[m])
			if set.FitIDs != nil {
				fit += len(set.FitIDs[m])
			}
		}
		cells += len(cellsOf)
	}
	growStr(&c.cid, rows, cid)
	growStr(&c.ctyp, rows, ctyp)
	growStr(&c.key, rows, key)
	growStr(&c.cur, rows, cur)
	c.cts = slices.Grow(c.cts, rows)
	c.rev = slices.Grow(c.rev, rows)
	c.date = slices.Grow(c.date, rows)
	c.version = slices.Grow(c.version, rows)
	c.plen = slices.Grow(c.plen, rows)
	for _, a := range []struct {
		arr   *strArr
		n, nb int
	}{{&c.tids, path, tid}, {&c.chs, path, ch}, {&c.srcs, path, src}, {&c.meds, path, med}, {&c.camps, path, camp},
		{&c.inters, path, inter}, {&c.models, models, model}, {&c.fits, models, fit}} {
		growStr(&a.arr.Data, a.n, a.nb)
		a.arr.Ends = slices.Grow(a.arr.Ends, rows)
	}
	c.tts.Data = slices.Grow(c.tts.Data, path)
	c.tts.Ends = slices.Grow(c.tts.Ends, rows)
	c.fractions.Data = slices.Grow(c.fractions.Data, cells)
	c.fractions.Ends = slices.Grow(c.fractions.Ends, rows)
	c.micros.Data = slices.Grow(c.micros.Data, cells)
	c.micros.Ends = slices.Grow(c.micros.Ends, rows)
}
