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
// and for its materialized views' blocks that keep the order. The rows are
// few next to the touchpoints (one per credited conversion and version)
// and wide (a whole path in arrays), so the sink orders the sets, not the
// columns: it sorts references to them (day, the id's first 8 bytes,
// where the set is) and then appends each set's row in that order; no
// array column is moved afterwards. Rows equal in the key (versions of one
// conversion in one batch) keep their arrival order.

// setRef is a credited set that makes a row: its sorting key and where it
// is (units[unit].Credits.Sets[set]).
type setRef struct {
	prefix    uint64 // the conversion id's first 8 bytes, big-endian
	unit, set int32
	date      proto.Date
}

// setRefsKeep is the most references a writer keeps from one insert to the
// next (384 KB), as tpSortKeep for the touchpoints.
const setRefsKeep = 1 << 14

// order returns the sets of units that make a row (retractions, and sets
// with cells), in attributed_conversions' order.
func (c *creditColumnsBuf) order(units []*flow.Unit) []setRef {
	refs := c.refs[:0]
	for ui, u := range units {
		for si := range u.Credits.Sets {
			set := &u.Credits.Sets[si]
			if !set.Retract && set.CellsLen == 0 {
				// Every model was skipped (data-driven ones without a
				// fit): nothing credited, nothing to store, as the
				// row-per-credit layout stored no row either.
				continue
			}
			refs = append(refs, setRef{prefix: prefix8(set.ConversionID), unit: int32(ui), set: int32(si), date: dayOf(set.TimeMs)})
		}
	}
	c.refs = refs
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
		return cmp.Or(cmp.Compare(a.unit, b.unit), cmp.Compare(a.set, b.set))
	}
	if !slices.IsSortedFunc(refs, less) {
		slices.SortFunc(refs, less)
	}
	return refs
}

// trim drops references grown past setRefsKeep.
func (c *creditColumnsBuf) trim() {
	if cap(c.refs) > setRefsKeep {
		c.refs = nil
	}
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
