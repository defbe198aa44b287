package sink

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/ClickHouse/ch-go/proto"
)

// A batch's touchpoints go to ClickHouse sorted by touchpoints' sorting
// key, (user_key, ts_ms, event_id). ClickHouse checks an inserted block's
// order before it sorts it (MergeTreeDataWriterBlocksAlreadySorted): a
// sorted block is written as it is, for touchpoints and for the
// materialized views' tables, touchpoints_by_day (the same key behind the
// day) and touchpoint_days. Sorting the rows costs the server more than it
// costs the sink: it sorts each table's block apart, every column of it,
// while the sink sorts once, mostly by integers, and moves each value
// once.
//
// The sink fills the columns in arrival order, then orders row numbers:
// a radix sort of each row's user_key prefix (its first 8 bytes,
// big-endian), then a comparison sort of each run of rows sharing a
// prefix (a user's touchpoints, or users whose keys share 8 bytes); then
// it moves every column's values into that order (a string column's
// positions only: ch-go encodes a String column by walking its positions,
// wherever they point in its bytes), through a spare column of each type
// whose array then becomes the next column's spare. It reads only the
// columns, which lie together in memory; reading the rows in sorted order
// instead cost more than the sort (a cache miss per row and string), and
// moving the values in place (walking the permutation's cycles, every
// column at once) cost more than the spare columns. The scratch space,
// 75 bytes a row, is kept for the next insert only up to tpSortKeep rows:
// a writer that wrote a catch-up's large batches does not hold their
// scratch space while idle (scripts/bench.sh memory: 104.1 B per held
// touchpoint with it kept, 98.2 B at main).

// tpSort is a writer's scratch space for sorting touchpoints' columns.
type tpSort struct {
	keys, tmp []tpKey
	perm      []int32
	pos       []proto.Position
	i64       []int64
	f64       []float64
	date      []proto.Date
	i32       []int32
	u8        []uint8
}

// tpSortKeep is the most rows whose scratch space a writer keeps from one
// insert to the next (1.2 MB): live batches reuse it, larger ones
// allocate their own.
const tpSortKeep = 1 << 14

// trim drops scratch space grown past tpSortKeep rows.
func (s *tpSort) trim() {
	if cap(s.keys) > tpSortKeep || cap(s.tmp) > tpSortKeep || cap(s.perm) > tpSortKeep || cap(s.pos) > tpSortKeep || cap(s.i64) > tpSortKeep {
		*s = tpSort{}
	}
}

// tpKey is a row's user_key prefix and its row number.
type tpKey struct {
	prefix uint64
	row    int32
}

// order returns the row numbers of the columns key, ts and id (user_key,
// ts_ms, event_id) in the order of the three, strings compared bytewise
// as ClickHouse compares them; nil when they are in order already. Rows
// equal in the three (a touchpoint and its replayed copy, one row to the
// table) keep their arrival order: the order is stable, so the rows sent
// are the same whatever the sort's internals. The conversions' columns
// (conversions has the same key) are ordered by it too.
func (s *tpSort) order(key *proto.ColStr, ts []int64, id *proto.ColStr) []int32 {
	n := key.Rows()
	less := func(a, b int32) int {
		if c := bytes.Compare(key.Buf[key.Pos[a].Start:key.Pos[a].End], key.Buf[key.Pos[b].Start:key.Pos[b].End]); c != 0 {
			return c
		}
		if c := cmp.Compare(ts[a], ts[b]); c != 0 {
			return c
		}
		if c := bytes.Compare(id.Buf[id.Pos[a].Start:id.Pos[a].End], id.Buf[id.Pos[b].Start:id.Pos[b].End]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = less(int32(i-1), int32(i)) <= 0
	}
	if sorted {
		return nil
	}
	keys, tmp := s.keys[:0], slices.Grow(s.tmp[:0], n)[:n]
	for i := range n {
		keys = append(keys, tpKey{prefix: prefix8(key.Buf[key.Pos[i].Start:key.Pos[i].End]), row: int32(i)})
	}
	// Least significant byte first, stable; a byte that every prefix
	// shares takes no pass.
	for shift := 0; shift < 64; shift += 8 {
		var count [256]int
		for i := range keys {
			count[byte(keys[i].prefix>>shift)]++
		}
		if count[byte(keys[0].prefix>>shift)] == n {
			continue
		}
		pos := 0
		for b, c := range count {
			count[b] = pos
			pos += c
		}
		for i := range keys {
			b := byte(keys[i].prefix >> shift)
			tmp[count[b]] = keys[i]
			count[b]++
		}
		keys, tmp = tmp, keys
	}
	perm := s.perm[:0]
	for _, k := range keys {
		perm = append(perm, k.row)
	}
	for start := 0; start < n; {
		end := start + 1
		for end < n && keys[end].prefix == keys[start].prefix {
			end++
		}
		if end-start > 1 {
			slices.SortFunc(perm[start:end], less)
		}
		start = end
	}
	s.keys, s.tmp, s.perm = keys, tmp, perm
	return perm
}

// prefix8 returns b's first 8 bytes as a big-endian integer, zeros past
// its end: for two strings whose prefixes differ, the integers compare as
// the strings do. The touchpoints' keys are bytes of a column, the
// credited rows' conversion ids strings (creditorder.go).
func prefix8[S ~string | ~[]byte](b S) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(b) {
			p |= uint64(b[i])
		}
	}
	return p
}

// permute puts *col's values in the order perm gives (row perm[i] to i),
// through scratch, and returns the old values' array as the next scratch.
func permute[T any](col *[]T, perm []int32, scratch []T) []T {
	out := slices.Grow(scratch[:0], len(perm))
	for _, p := range perm {
		out = append(out, (*col)[p])
	}
	old := *col
	*col = out
	return old[:0]
}
