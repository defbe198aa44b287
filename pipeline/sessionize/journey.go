package sessionize

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"

	"github.com/attributor/attributor/attribution"
)

// journey is a user's key and touchpoints as the shards hold them: the same
// semantics as attribution.Journey (deduplicated by id, the copy with the
// earliest time wins, the first seen on a tie; sorted by time, then id), in a fraction of its memory, in one
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
//
// A journey of bigJourneyAt touchpoints or more (a bot, a shared device)
// also gets a bigJourney: an index of its ids, so that deduplicating a
// touchpoint costs a lookup instead of a scan of the whole journey; its
// text ids, which then live there (flag dimText) instead of after the
// records, so that inserting a record moves no id bytes; and room to grow
// by half again, so that appending copies the journey only now and then.
// One heavy user thus costs amortized constant time per touchpoint, not
// time linear in its length.
type journey struct {
	b   []byte
	big *bigJourney
}

// bigJourney is what a long journey holds besides its bytes.
type bigJourney struct {
	ids   map[uint64]int64 // hash of an id -> time of the touchpoint; idsShared: several ids
	texts []byte           // the text ids of records flagged dimText
	// The session start of the last record, cached when the journey was
	// lastN long: appending in time order then needs no walk back.
	lastN     int
	lastStart int64
}

const (
	journeyHeader = 8
	recSize       = 28
	recDim        = 8  // offset of the dim word in a record
	recID         = 12 // offset of the id in a record
	dimUUID       = 1 << 31
	dimText       = 1 << 30 // the text id is in bigJourney.texts
	dimMask       = dimText - 1
	idsShared     = math.MinInt64
)

// bigJourneyAt is the length from which a journey indexes its ids. A
// variable so that tests can make every journey big.
var bigJourneyAt = 64

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

// touch reads the lines of b that a lookup of the key and a put read:
// the key's, and every record's for a short journey (put scans them for
// the id), or only the last record's for a big one (its ids are indexed;
// a touchpoint in time order goes after it). It returns a byte of them so
// that the reads are made.
func (j *journey) touch() byte {
	b := j.b
	if len(b) == 0 {
		return 0
	}
	x := b[0]
	from := 64
	if j.big != nil {
		from = max(from, len(b)-recSize)
	}
	for off := from; off < len(b); off += 64 {
		x += b[off]
	}
	return x + b[len(b)-1]
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
	dim := le.Uint32(r[recDim:])
	if dim&dimUUID != 0 {
		return r[recID : recID+16], true
	}
	off, n := int(le.Uint32(r[recID:])), int(le.Uint32(r[recID+4:]))
	if dim&dimText != 0 {
		return j.big.texts[off : off+n], false
	}
	_, tail := j.recs()
	return j.b[tail+off : tail+off+n], false
}

// idSeed seeds the id hashes of big journeys, per process, so that ids
// chosen by a sender cannot all collide.
var idSeed = maphash.MakeSeed()

func idHash(id string) uint64 { return maphash.String(idSeed, id) }

// find returns the index of the touchpoint with id, or -1.
func (j *journey) find(id string, uuid *[16]byte, isUUID bool) int {
	if j.big != nil {
		t, ok := j.big.ids[idHash(id)]
		if !ok {
			return -1
		}
		if t != idsShared {
			for i := j.search(t); i < j.len() && j.timeMs(i) == t; i++ {
				if j.cmpID(i, id, uuid, isUUID) == 0 {
					return i
				}
			}
		}
		// The hash is another id's too: scan (as rare as a 64-bit collision).
	}
	for i := range j.len() {
		held, heldUUID := j.idBytes(i)
		if heldUUID == isUUID && (isUUID && [16]byte(held) == *uuid || !isUUID && string(held) == id) {
			return i
		}
	}
	return -1
}

// index records a new touchpoint's id in the big journey's index.
func (j *journey) index(id string, timeMs int64) {
	h := idHash(id)
	if _, taken := j.big.ids[h]; taken {
		j.big.ids[h] = idsShared
		return
	}
	j.big.ids[h] = timeMs
}

// makeBig gives the journey its index and moves its text ids out of b.
func (j *journey) makeBig() {
	n := j.len()
	j.big = &bigJourney{ids: make(map[uint64]int64, 2*n), lastN: -1}
	start, tail := j.recs()
	for i := range n {
		r := j.b[start+i*recSize : start+(i+1)*recSize]
		if dim := le.Uint32(r[recDim:]); dim&dimUUID == 0 {
			off, l := int(le.Uint32(r[recID:])), int(le.Uint32(r[recID+4:]))
			le.PutUint32(r[recID:], uint32(len(j.big.texts)))
			j.big.texts = append(j.big.texts, j.b[tail+off:tail+off+l]...)
			le.PutUint32(r[recDim:], dim|dimText)
		}
		j.index(j.id(i), j.timeMs(i))
	}
	j.b = j.b[:tail]
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
// touchpoint with the same id is held already (see put).
func (j *journey) add(tp *attribution.Touchpoint, dims *dimTable) (int, bool) {
	i, st, _ := j.put(tp, dims)
	return i, st == putNew
}

// What put did.
const (
	putNew   = iota // tp was added
	putDup          // a copy of tp at the same or an earlier time is held: nothing changed
	putMoved        // tp replaced a later copy of itself, held until then
)

// put adds tp, a new touchpoint or a copy of a held one (the same id), by
// the rule that makes the result independent of the order copies arrive
// in: the copy with the earliest time wins, the one held on a tie. A copy
// earlier than the held one replaces it (fields and all) at its own place
// in time order; put then reports the time the replaced copy had. The
// index is tp's, or the held copy's when nothing changed.
func (j *journey) put(tp *attribution.Touchpoint, dims *dimTable) (i, st int, movedFromMs int64) {
	var uuid [16]byte
	isUUID := parseUUID(tp.ID, &uuid)
	if i := j.find(tp.ID, &uuid, isUUID); i >= 0 {
		held := j.timeMs(i)
		if held <= tp.TimeMs {
			return i, putDup, 0
		}
		j.remove(i, tp.ID)
		return j.insert(tp, &uuid, isUUID, dims), putMoved, held
	}
	return j.insert(tp, &uuid, isUUID, dims), putNew, 0
}

// remove drops touchpoint i, whose id is id. Rare (an earlier copy
// replacing it): it costs a copy of the journey.
func (j *journey) remove(i int, id string) {
	n := j.len()
	start, tail := j.recs()
	r := j.rec(i)
	dim := le.Uint32(r[recDim:])
	if j.big != nil {
		if h := idHash(id); j.big.ids[h] != idsShared {
			delete(j.big.ids, h)
		}
		// A text id's bytes stay in big.texts until the next prune.
		j.big.lastN = -1
	}
	var idOff, idLen int
	inTail := dim&(dimUUID|dimText) == 0
	if inTail {
		idOff, idLen = int(le.Uint32(r[recID:])), int(le.Uint32(r[recID+4:]))
	}
	b := slices.Grow([]byte(nil), len(j.b)-recSize-idLen)
	b = append(b, j.b[:start+i*recSize]...)
	b = append(b, j.b[start+(i+1)*recSize:tail]...)
	if inTail {
		b = append(b, j.b[tail:tail+idOff]...)
		b = append(b, j.b[tail+idOff+idLen:]...)
		for k := range n - 1 {
			r := b[start+k*recSize : start+(k+1)*recSize]
			if le.Uint32(r[recDim:])&(dimUUID|dimText) == 0 {
				if off := int(le.Uint32(r[recID:])); off > idOff {
					le.PutUint32(r[recID:], uint32(off-idLen))
				}
			}
		}
	} else {
		b = append(b, j.b[tail:]...)
	}
	le.PutUint32(b[4:], uint32(n-1))
	j.b = b
}

// insert adds tp, whose id no held touchpoint has, in order and returns
// its index.
func (j *journey) insert(tp *attribution.Touchpoint, uuid *[16]byte, isUUID bool, dims *dimTable) int {
	n := j.len()
	// Insertion point: after every touchpoint that sorts before tp.
	lo, hi := 0, n
	if n > 0 && j.timeMs(n-1) < tp.TimeMs {
		lo = n // in time order, as nearly always
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t := j.timeMs(m); t < tp.TimeMs || t == tp.TimeMs && j.cmpID(m, tp.ID, uuid, isUUID) < 0 {
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
	inTail := !isUUID && j.big == nil // the id goes after the records
	grow := recSize
	if inTail {
		grow += len(tp.ID)
	}
	b := j.b
	if old+grow > cap(b) {
		size := old + grow
		if j.big != nil {
			size += old / 2 // long journeys grow by half: amortized appends
		}
		// Short ones to the size the allocator rounds it up to anyway, no more.
		b = slices.Grow([]byte(nil), size)
		b = append(b, j.b[:start+lo*recSize]...)
	}
	b = b[:old+grow]
	at := start + lo*recSize
	copy(b[at+recSize:], j.b[at:old]) // the later records and the id tail
	r := b[at : at+recSize]
	le.PutUint64(r, uint64(tp.TimeMs))
	dim := dims.intern(tp)
	switch {
	case isUUID:
		dim |= dimUUID
		copy(r[recID:], uuid[:])
	case inTail:
		le.PutUint32(r[recID:], uint32(old-tail))
		le.PutUint32(r[recID+4:], uint32(len(tp.ID)))
		clear(r[recID+8:])
		copy(b[old+recSize:], tp.ID)
	default:
		dim |= dimText
		le.PutUint32(r[recID:], uint32(len(j.big.texts)))
		le.PutUint32(r[recID+4:], uint32(len(tp.ID)))
		clear(r[recID+8:])
		j.big.texts = append(j.big.texts, tp.ID...)
	}
	le.PutUint32(r[recDim:], dim)
	le.PutUint32(b[4:], uint32(n+1))
	j.b = b
	if j.big != nil {
		j.index(tp.ID, tp.TimeMs)
	} else if n+1 >= bigJourneyAt {
		j.makeBig()
	}
	return lo
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

// latest appends to out, in order and as the engine takes them, the
// touchpoints of a conversion at convMs that eng.Window keeps, after
// fromMs (inclusive): the latest max+1 of them, so that the engine both
// caps the path and sees that it did. The walk goes back from the
// conversion, so a long journey costs the touchpoints it walks over, not
// its length.
func (j *journey) latest(fromMs, convMs int64, max int, eng *attribution.Engine, dims *dimTable, out []attribution.Touchpoint) []attribution.Touchpoint {
	first := j.search(fromMs)
	k := len(out)
	for i := j.search(convMs+1) - 1; i >= first && len(out)-k <= max; i-- {
		r := j.rec(i)
		d := dims.get(le.Uint32(r[recDim:]) & dimMask)
		tp := attribution.Touchpoint{TimeMs: int64(le.Uint64(r)), Impression: d.impression}
		if !eng.Window(&tp, convMs) {
			continue
		}
		tp.ID, tp.Channel, tp.Source, tp.Medium, tp.Campaign = j.id(i), d.channel, d.source, d.medium, d.campaign
		out = append(out, tp)
	}
	slices.Reverse(out[k:])
	return out
}

// sessionStart returns the time of the first touchpoint of the session of
// the touchpoint at index i: walking back while gaps are at most gapMs.
func (j *journey) sessionStart(i int, gapMs int64) int64 {
	n := j.len()
	last := j.big != nil && i == n-1
	if last && j.big.lastN == n-1 && i > 0 {
		// Appended after the last record, whose session start is cached.
		start := j.timeMs(i)
		if start-j.timeMs(i-1) <= gapMs {
			start = j.big.lastStart
		}
		j.big.lastN, j.big.lastStart = n, start
		return start
	}
	k := i
	for k > 0 && j.timeMs(k)-j.timeMs(k-1) <= gapMs {
		k--
	}
	if last {
		j.big.lastN, j.big.lastStart = n, j.timeMs(k)
	}
	return j.timeMs(k)
}

// prune drops the touchpoints older than beforeMs and reallocates the rest
// to their exact size (a journey still long keeps its index, rebuilt).
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
		r := b[start+(i-k)*recSize:]
		le.PutUint32(r[recID:], uint32(off))
		le.PutUint32(r[recDim:], le.Uint32(r[recDim:])&^dimText)
		b = append(b, id...)
		off += len(id)
	}
	j.b, j.big = b, nil
	if n-k >= bigJourneyAt {
		j.makeBig()
	}
	return k
}

// remapDims replaces the dimension index of every touchpoint by f(index),
// keeping the flags of the dim word (dimUUID, dimText).
func (j *journey) remapDims(f func(uint32) uint32) {
	for i := range j.len() {
		r := j.rec(i)[recDim:]
		w := le.Uint32(r)
		le.PutUint32(r, f(w&dimMask)|w&^dimMask)
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
	index     map[string]uint32 // by dimVal.key
	vals      []dimVal
	compactAt int    // compaction is due once vals holds this many
	scratch   []byte // the key being looked up
}

// minDimCompact is the size below which the table is never compacted: a
// few thousand tuples cost less than walking every held touchpoint.
const minDimCompact = 4096

// dimVal is one tuple. Its strings are parts of key, the tuple encoded as
// one string (dimKey), which indexes it: a lookup hashes and compares one
// short string rather than four strings at four places in memory.
type dimVal struct {
	channel, source, medium, campaign string
	impression                        bool
	key                               string
}

func newDimTable() *dimTable { return &dimTable{index: map[string]uint32{}, compactAt: minDimCompact} }

func (d *dimTable) len() int { return len(d.vals) }

// due reports whether the table has doubled since its last compaction.
func (d *dimTable) due() bool { return len(d.vals) >= d.compactAt }

// replace makes vals the table's tuples, in that order (see compactDims).
func (d *dimTable) replace(vals []dimVal) {
	d.vals = vals
	d.index = make(map[string]uint32, len(vals))
	for i, v := range vals {
		d.index[v.key] = uint32(i)
	}
	d.compactAt = max(minDimCompact, 2*len(vals))
}

// dimKeyHeader is the size of a dimKey's header: the impression flag and
// the lengths of channel, source and medium (campaign takes the rest).
const dimKeyHeader = 1 + 3*4

// appendDimKey appends the key of tp's tuple: the header, then channel,
// source, medium and campaign.
func appendDimKey(b []byte, tp *attribution.Touchpoint) []byte {
	imp := byte(0)
	if tp.Impression {
		imp = 1
	}
	b = append(b, imp)
	b = le.AppendUint32(b, uint32(len(tp.Channel)))
	b = le.AppendUint32(b, uint32(len(tp.Source)))
	b = le.AppendUint32(b, uint32(len(tp.Medium)))
	b = append(b, tp.Channel...)
	b = append(b, tp.Source...)
	b = append(b, tp.Medium...)
	return append(b, tp.Campaign...)
}

// newDimVal returns the tuple whose key is key.
func newDimVal(key string) dimVal {
	c, s, m := int(le.Uint32([]byte(key[1:5]))), int(le.Uint32([]byte(key[5:9]))), int(le.Uint32([]byte(key[9:13])))
	rest := key[dimKeyHeader:]
	return dimVal{
		channel: rest[:c], source: rest[c : c+s], medium: rest[c+s : c+s+m], campaign: rest[c+s+m:],
		impression: key[0] == 1, key: key,
	}
}

func (d *dimTable) intern(tp *attribution.Touchpoint) uint32 {
	d.scratch = appendDimKey(d.scratch[:0], tp)
	if i, ok := d.index[string(d.scratch)]; ok {
		return i
	}
	if len(d.vals) == dimText {
		// 2^30 distinct tuples would take far more memory than any shard has.
		panic("pipeline: dimension table full")
	}
	i := uint32(len(d.vals))
	v := newDimVal(string(d.scratch))
	d.vals = append(d.vals, v)
	d.index[v.key] = i
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
	bad := byte(0)
	for n, i := range uuidDigits {
		hi, lo := unhexTable[id[i]], unhexTable[id[i+1]]
		bad |= hi | lo
		buf[n] = hi<<4 | lo&15
	}
	return bad&0x80 == 0
}

// uuidDigits are where the 16 digit pairs of a canonical UUID start.
var uuidDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// unhexTable maps a lowercase hex digit to its value, and every other byte
// to 0x80.
var unhexTable = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0x80
		}
	}
	return t
}()

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
