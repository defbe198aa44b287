package pipeline

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/attributor/attributor/attribution"
)

// journey is a user's key and touchpoints as the shards hold them: the same
// semantics as attribution.Journey (deduplicated by id, the first seen
// wins; sorted by time, then id), in a fraction of its memory, in one
// allocation per user that grows to the exact size it needs (paths grow one
// touchpoint at a time and are held by the million: slack would cost more
// than the copies). Channel, source, medium, campaign and interaction are
// interned in the shard's dimension table.
//
// The bytes of b are
//
//	key length (uint32) | touchpoint count n (uint32) | key |
//	n records of recSize bytes, in order | the ids that are not UUIDs
//
// and a record is
//
//	time in ms (int64) | dim index, bit 31 set for a UUID id (uint32) |
//	id: the 16 bytes of a canonical lowercase UUID, or where the id's
//	bytes start after the records (uint32) and their length (uint32)
//
// all little-endian. The zero journey is empty and has the empty key.
type journey struct {
	b []byte
}

const (
	journeyHeader = 8
	recSize       = 28
	recDim        = 8  // offset of the dim word in a record
	recID         = 12 // offset of the id in a record
	dimUUID       = 1 << 31
)

var le = binary.LittleEndian

// newJourney returns the empty journey of key.
func newJourney(key string) journey {
	b := slices.Grow([]byte(nil), journeyHeader+len(key))[:journeyHeader+len(key)]
	le.PutUint32(b, uint32(len(key)))
	copy(b[journeyHeader:], key)
	return journey{b: b}
}

func (j *journey) keyLen() int {
	if len(j.b) == 0 {
		return 0
	}
	return int(le.Uint32(j.b))
}

// key returns the key's bytes, valid until the journey changes.
func (j *journey) key() []byte {
	if len(j.b) == 0 {
		return nil
	}
	return j.b[journeyHeader : journeyHeader+j.keyLen()]
}

func (j *journey) len() int {
	if len(j.b) == 0 {
		return 0
	}
	return int(le.Uint32(j.b[4:]))
}

// recs returns where the records start and where the id tail starts.
func (j *journey) recs() (start, tail int) {
	start = journeyHeader + j.keyLen()
	return start, start + j.len()*recSize
}

func (j *journey) rec(i int) []byte {
	start, _ := j.recs()
	return j.b[start+i*recSize : start+(i+1)*recSize]
}

func (j *journey) timeMs(i int) int64 { return int64(le.Uint64(j.rec(i))) }

// idBytes returns the id as held: 16 UUID bytes or the text, and whether
// it is a UUID.
func (j *journey) idBytes(i int) ([]byte, bool) {
	r := j.rec(i)
	if le.Uint32(r[recDim:])&dimUUID != 0 {
		return r[recID : recID+16], true
	}
	_, tail := j.recs()
	off, n := int(le.Uint32(r[recID:])), int(le.Uint32(r[recID+4:]))
	return j.b[tail+off : tail+off+n], false
}

// id returns the touchpoint's id as it was sent.
func (j *journey) id(i int) string {
	b, isUUID := j.idBytes(i)
	if isUUID {
		var s [36]byte
		return string(appendUUID(s[:0], b))
	}
	return string(b)
}

// cmpID compares the id of touchpoint i with id; uuid holds id's bytes
// when isUUID.
func (j *journey) cmpID(i int, id string, uuid *[16]byte, isUUID bool) int {
	held, heldUUID := j.idBytes(i)
	switch {
	case heldUUID && isUUID:
		return bytes.Compare(held, uuid[:]) // the byte order of a UUID is its text's
	case heldUUID:
		var s [36]byte
		return compareText(appendUUID(s[:0], held), id)
	}
	return compareText(held, id)
}

// compareText compares b and s as strings are compared.
func compareText(b []byte, s string) int {
	for i := 0; i < len(b) && i < len(s); i++ {
		if b[i] != s[i] {
			if b[i] < s[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(b) < len(s):
		return -1
	case len(b) > len(s):
		return 1
	}
	return 0
}

// add inserts tp in order and reports its index, or false when a
// touchpoint with the same id is held already.
func (j *journey) add(tp *attribution.Touchpoint, dims *dimTable) (int, bool) {
	var uuid [16]byte
	isUUID := parseUUID(tp.ID, &uuid)
	n := j.len()
	for i := range n {
		held, heldUUID := j.idBytes(i)
		if heldUUID == isUUID && (isUUID && [16]byte(held) == uuid || !isUUID && string(held) == tp.ID) {
			return i, false
		}
	}
	// Insertion point: after every touchpoint that sorts before tp.
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t := j.timeMs(m); t < tp.TimeMs || t == tp.TimeMs && j.cmpID(m, tp.ID, &uuid, isUUID) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if len(j.b) == 0 {
		*j = newJourney("")
	}
	start, tail := j.recs()
	old := len(j.b)
	grow := recSize
	if !isUUID {
		grow += len(tp.ID)
	}
	b := j.b
	if old+grow > cap(b) {
		// To the size the allocator rounds it up to anyway, no more.
		b = slices.Grow([]byte(nil), old+grow)
		b = append(b, j.b[:start+lo*recSize]...)
	}
	b = b[:old+grow]
	at := start + lo*recSize
	copy(b[at+recSize:], j.b[at:old]) // the later records and the id tail
	r := b[at : at+recSize]
	le.PutUint64(r, uint64(tp.TimeMs))
	dim := dims.intern(tp)
	if isUUID {
		dim |= dimUUID
		copy(r[recID:], uuid[:])
	} else {
		le.PutUint32(r[recID:], uint32(old-tail))
		le.PutUint32(r[recID+4:], uint32(len(tp.ID)))
		clear(r[recID+8:])
		copy(b[old+recSize:], tp.ID)
	}
	le.PutUint32(r[recDim:], dim)
	le.PutUint32(b[4:], uint32(n+1))
	j.b = b
	return lo, true
}

// search returns the index of the first touchpoint at or after timeMs.
func (j *journey) search(timeMs int64) int {
	lo, hi := 0, j.len()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if j.timeMs(m) < timeMs {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// count returns how many touchpoints have fromMs <= time <= toMs.
func (j *journey) count(fromMs, toMs int64) int {
	return max(0, j.search(toMs+1)-j.search(fromMs))
}

// window appends to out the touchpoints with fromMs <= time <= toMs, in
// order, as the engine takes them.
func (j *journey) window(fromMs, toMs int64, dims *dimTable, out []attribution.Touchpoint) []attribution.Touchpoint {
	n := j.len()
	for i := j.search(fromMs); i < n; i++ {
		r := j.rec(i)
		t := int64(le.Uint64(r))
		if t > toMs {
			break
		}
		d := dims.get(le.Uint32(r[recDim:]) &^ dimUUID)
		out = append(out, attribution.Touchpoint{
			ID: j.id(i), TimeMs: t, Impression: d.impression,
			Channel: d.channel, Source: d.source, Medium: d.medium, Campaign: d.campaign,
		})
	}
	return out
}

// sessionStart returns the time of the first touchpoint of the session of
// the touchpoint at index i: walking back while gaps are at most gapMs.
func (j *journey) sessionStart(i int, gapMs int64) int64 {
	for i > 0 && j.timeMs(i)-j.timeMs(i-1) <= gapMs {
		i--
	}
	return j.timeMs(i)
}

// prune drops the touchpoints older than beforeMs and reallocates the rest
// to their exact size.
func (j *journey) prune(beforeMs int64) int {
	k := j.search(beforeMs)
	if k == 0 {
		return 0
	}
	n := j.len()
	start, tail := j.recs()
	size := start + (n-k)*recSize
	for i := k; i < n; i++ {
		if id, isUUID := j.idBytes(i); !isUUID {
			size += len(id)
		}
	}
	b := slices.Grow([]byte(nil), size)
	b = append(b, j.b[:start]...)
	b = append(b, j.b[start+k*recSize:tail]...)
	le.PutUint32(b[4:], uint32(n-k))
	off := 0
	for i := k; i < n; i++ {
		id, isUUID := j.idBytes(i)
		if isUUID {
			continue
		}
		le.PutUint32(b[start+(i-k)*recSize+recID:], uint32(off))
		b = append(b, id...)
		off += len(id)
	}
	j.b = b
	return k
}

// remapDims replaces the dimension index of every touchpoint by f(index).
func (j *journey) remapDims(f func(uint32) uint32) {
	for i := range j.len() {
		r := j.rec(i)[recDim:]
		w := le.Uint32(r)
		le.PutUint32(r, f(w&^dimUUID)|w&dimUUID)
	}
}

// dimTable interns the descriptive fields of touchpoints: a shard holds
// millions of touchpoints but few distinct (channel, source, medium,
// campaign, interaction) tuples. Tuples are never freed one by one: the
// shard's sweep compacts the table (compactDims) once it has doubled since
// the last compaction, keeping only the tuples that held touchpoints use,
// so that a stream of ever new campaigns costs memory for the campaigns of
// the users held, not for every campaign ever seen.
type dimTable struct {
	index     map[dimVal]uint32
	vals      []dimVal
	compactAt int // compaction is due once vals holds this many
}

// minDimCompact is the size below which the table is never compacted: a
// few thousand tuples cost less than walking every held touchpoint.
const minDimCompact = 4096

type dimVal struct {
	channel, source, medium, campaign string
	impression                        bool
}

func newDimTable() *dimTable { return &dimTable{index: map[dimVal]uint32{}, compactAt: minDimCompact} }

func (d *dimTable) len() int { return len(d.vals) }

// due reports whether the table has doubled since its last compaction.
func (d *dimTable) due() bool { return len(d.vals) >= d.compactAt }

// replace makes vals the table's tuples, in that order (see compactDims).
func (d *dimTable) replace(vals []dimVal) {
	d.vals = vals
	d.index = make(map[dimVal]uint32, len(vals))
	for i, v := range vals {
		d.index[v] = uint32(i)
	}
	d.compactAt = max(minDimCompact, 2*len(vals))
}

func (d *dimTable) intern(tp *attribution.Touchpoint) uint32 {
	v := dimVal{tp.Channel, tp.Source, tp.Medium, tp.Campaign, tp.Impression}
	if i, ok := d.index[v]; ok {
		return i
	}
	if len(d.vals) == dimUUID {
		// 2^31 distinct tuples would take far more memory than any shard has.
		panic("pipeline: dimension table full")
	}
	i := uint32(len(d.vals))
	d.vals = append(d.vals, v)
	d.index[v] = i
	return i
}

func (d *dimTable) get(i uint32) *dimVal { return &d.vals[i] }

// parseUUID reports whether id is a canonical lowercase UUID, and if so
// puts its 16 bytes in buf (whose byte order is the text's, so sorting by
// them is sorting by id).
func parseUUID(id string, buf *[16]byte) bool {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return false
	}
	n := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, ok1 := unhex(id[i])
		lo, ok2 := unhex(id[i+1])
		if !ok1 || !ok2 {
			return false
		}
		buf[n] = hi<<4 | lo
		n++
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

// appendUUID appends the canonical text of the 16 bytes b.
func appendUUID(s, b []byte) []byte {
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s = append(s, '-')
		}
		s = append(s, hexDigits[c>>4], hexDigits[c&15])
	}
	return s
}
