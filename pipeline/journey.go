package pipeline

import (
	"strings"

	"github.com/attributor/attributor/attribution"
)

// journey is a user's touchpoints as the shards hold them: the same
// semantics as attribution.Journey (deduplicated by id, the first seen
// wins; sorted by time, then id), in a fraction of its memory. A held
// touchpoint is 24 bytes plus its id; an id that is a canonical lowercase
// UUID is kept as its 16 bytes, any other id as its bytes, all in one arena
// per user; channel, source, medium, campaign and interaction are interned
// in the shard's dimension table.
type journey struct {
	tps []heldTouchpoint
	ids []byte
}

type heldTouchpoint struct {
	timeMs int64
	dim    uint32 // index into the shard's dimTable
	idOff  uint32 // offset of the id in journey.ids
	idLen  uint16
	uuid   bool // the id is held as the 16 bytes of a canonical UUID
}

func (j *journey) len() int { return len(j.tps) }

func (j *journey) idBytes(h *heldTouchpoint) []byte { return j.ids[h.idOff : h.idOff+uint32(h.idLen)] }

// id returns the touchpoint's id as it was sent.
func (j *journey) id(h *heldTouchpoint) string {
	b := j.idBytes(h)
	if h.uuid {
		return formatUUID(b)
	}
	return string(b)
}

// add inserts tp in order and reports its index, or false when a
// touchpoint with the same id is held already.
func (j *journey) add(tp *attribution.Touchpoint, dims *dimTable) (int, bool) {
	var enc [16]byte
	idb, isUUID := encodeID(tp.ID, &enc)
	for i := range j.tps {
		h := &j.tps[i]
		if h.uuid == isUUID && string(j.idBytes(h)) == string(idb) {
			return i, false
		}
	}
	// Insertion point: after every touchpoint that sorts before tp.
	lo, hi := 0, len(j.tps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if j.before(&j.tps[m], tp.TimeMs, tp.ID) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	h := heldTouchpoint{timeMs: tp.TimeMs, dim: dims.intern(tp), idOff: uint32(len(j.ids)), idLen: uint16(len(idb)), uuid: isUUID}
	j.ids = appendTight(j.ids, idb)
	if len(j.tps) == cap(j.tps) {
		// Grow by a quarter, not double: paths are short and held by the
		// million, so slack costs more than the occasional copy.
		grown := make([]heldTouchpoint, len(j.tps), len(j.tps)+len(j.tps)/4+1)
		copy(grown, j.tps)
		j.tps = grown
	}
	j.tps = append(j.tps, heldTouchpoint{})
	copy(j.tps[lo+1:], j.tps[lo:])
	j.tps[lo] = h
	return lo, true
}

// before reports whether h sorts before a touchpoint at (timeMs, id).
func (j *journey) before(h *heldTouchpoint, timeMs int64, id string) bool {
	if h.timeMs != timeMs {
		return h.timeMs < timeMs
	}
	return strings.Compare(j.id(h), id) < 0
}

func appendTight(b, add []byte) []byte {
	if len(b)+len(add) > cap(b) {
		grown := make([]byte, len(b), len(b)+len(add)+len(b)/4)
		copy(grown, b)
		b = grown
	}
	return append(b, add...)
}

// search returns the index of the first touchpoint at or after timeMs.
func (j *journey) search(timeMs int64) int {
	lo, hi := 0, len(j.tps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if j.tps[m].timeMs < timeMs {
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
	for i := j.search(fromMs); i < len(j.tps) && j.tps[i].timeMs <= toMs; i++ {
		h := &j.tps[i]
		d := dims.get(h.dim)
		out = append(out, attribution.Touchpoint{
			ID: j.id(h), TimeMs: h.timeMs, Impression: d.impression,
			Channel: d.channel, Source: d.source, Medium: d.medium, Campaign: d.campaign,
		})
	}
	return out
}

// sessionStart returns the time of the first touchpoint of the session of
// the touchpoint at index i: walking back while gaps are at most gapMs.
func (j *journey) sessionStart(i int, gapMs int64) int64 {
	for i > 0 && j.tps[i].timeMs-j.tps[i-1].timeMs <= gapMs {
		i--
	}
	return j.tps[i].timeMs
}

// prune drops the touchpoints older than beforeMs and compacts the arena.
func (j *journey) prune(beforeMs int64) int {
	k := j.search(beforeMs)
	if k == 0 {
		return 0
	}
	keep := j.tps[k:]
	if len(keep) == 0 {
		j.tps, j.ids = nil, nil
		return k
	}
	tps := make([]heldTouchpoint, len(keep))
	var ids []byte
	for i, h := range keep {
		b := j.idBytes(&keep[i])
		h.idOff = uint32(len(ids))
		ids = append(ids, b...)
		tps[i] = h
	}
	j.tps, j.ids = tps, ids
	return k
}

// dimTable interns the descriptive fields of touchpoints: a shard holds
// millions of touchpoints but few distinct (channel, source, medium,
// campaign, interaction) tuples.
type dimTable struct {
	index map[dimVal]uint32
	vals  []dimVal
}

type dimVal struct {
	channel, source, medium, campaign string
	impression                        bool
}

func newDimTable() *dimTable { return &dimTable{index: map[dimVal]uint32{}} }

func (d *dimTable) intern(tp *attribution.Touchpoint) uint32 {
	v := dimVal{tp.Channel, tp.Source, tp.Medium, tp.Campaign, tp.Impression}
	if i, ok := d.index[v]; ok {
		return i
	}
	i := uint32(len(d.vals))
	d.vals = append(d.vals, v)
	d.index[v] = i
	return i
}

func (d *dimTable) get(i uint32) *dimVal { return &d.vals[i] }

// encodeID returns the bytes to hold for id: the 16 bytes of a canonical
// lowercase UUID (whose byte order is the string order, so sorting is
// unchanged), or the id itself.
func encodeID(id string, buf *[16]byte) ([]byte, bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return []byte(id), false
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
			return []byte(id), false
		}
		buf[n] = hi<<4 | lo
		n++
	}
	return buf[:], true
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

func formatUUID(b []byte) string {
	var s [36]byte
	n := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[n] = '-'
			n++
		}
		s[n], s[n+1] = hexDigits[c>>4], hexDigits[c&15]
		n += 2
	}
	return string(s[:])
}
