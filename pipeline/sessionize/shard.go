package sessionize

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/pending"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
)

// user is the state of one attribution key. Most users never convert, so
// conversion state hangs off a pointer that stays nil for them: memory per
// held touchpoint is what limits how many users an instance can hold.
type user struct {
	journey   journey // also holds the key
	conv      *convState
	dev       *devState // devices linked to this user (stitching); nil for most
	lastSeq   uint64    // unit carrying this user's latest rows
	partition int32
	loaded    bool // history merged from ClickHouse (or none can exist)
}

type convState struct {
	released   []released // attributed conversions within the horizon
	pendingIDs []string   // conversions waiting for the watermark
}

func (u *user) key() string { return string(u.journey.key()) }

func (u *user) convs() *convState {
	if u.conv == nil {
		u.conv = &convState{}
	}
	return u.conv
}

// released returns the attributed conversions held for u.
func (u *user) released() []released {
	if u.conv == nil {
		return nil
	}
	return u.conv.released
}

func (u *user) pending() int {
	if u.conv == nil {
		return 0
	}
	return len(u.conv.pendingIDs)
}

type released struct {
	cv          schemas.Conversion
	fromHistory bool   // attributed by an earlier process, read back from ClickHouse
	version     uint32 // the highest version it was written with (0: none known)
}

type pendingConv struct {
	cv        schemas.Conversion
	key       string // the key it is credited under
	ack       flow.Ack
	arrived   time.Time
	partition int32
	// The message, for a device's conversion that may follow its device
	// to another user's home (stitching).
	value  []byte
	origin int32
	offset int64
}

// partState is what a shard knows of one home partition: the events whose
// key's home it is, from whichever input partition they came.
type partState struct {
	wm       int64 // touchpoint watermark: every input partition got this far
	caughtUp bool  // every input touchpoint partition was at the end of its log
	// frontier is the latest event time of a conversion that a user of
	// this partition holds credited: a touchpoint at or before it may join
	// a credited path (it is late). Raised by every release here and, with
	// stitching, by the conversions a device brings to its user (credited
	// first at the device's home); started at the stored conversions'.
	frontier int64
	pending  pending.Heap[*pendingConv]
	srcs     []srcMark // per input touchpoint partition: its latest mark
	heard    int       // input partitions heard from
}

// srcMark is the latest mark of one input touchpoint partition.
type srcMark struct {
	wm             int64
	caughtUp, seen bool
}

// mark takes the latest mark of input partition src. The home's watermark
// is the lowest over all input touchpoint partitions, once each has been
// heard from (before that it stays where it started): touchpoints reach a
// home from every one of them.
func (ps *partState) mark(src int32, wm int64, caughtUp bool) {
	if int(src) >= len(ps.srcs) {
		return // a partition added to the input topic since the start: heard at the next generation
	}
	m := &ps.srcs[src]
	if !m.seen {
		m.seen = true
		ps.heard++
	}
	m.wm, m.caughtUp = max(m.wm, wm), caughtUp
	if ps.heard < len(ps.srcs) {
		return
	}
	low, all := int64(1<<62), true
	for i := range ps.srcs {
		low = min(low, ps.srcs[i].wm)
		all = all && ps.srcs[i].caughtUp
	}
	ps.wm, ps.caughtUp = max(ps.wm, low), all
}

// Shard owns the users whose key hashes to it. Only its goroutine touches
// its state, so nothing here is locked.
type Shard struct {
	warmed  byte // what warm read, kept so that its reads are made
	id      int
	cfg     *Config
	eng     *attribution.Engine
	models  []string
	In      chan []flow.Item // batches of items (flow.BatchItems at most), each fetcher's in fetch order
	out     Output
	hist    History
	st      *flow.Stats
	tpTopic string

	users     userTable
	stored    map[uint64]uint8 // hashes of keys that may have history in ClickHouse: stored* bits
	parts     map[int32]*partState
	start     Start
	u         *flow.Unit
	seq       uint64
	res       attribution.Result
	path      []attribution.Touchpoint // scratch: the window handed to the engine
	dims      *dimTable
	batch     []flow.Item
	ready     []*pendingConv // scratch of release, reused across calls
	freePCs   []*pendingConv // released ones, emptied, for conversion to reuse (maxFreePCs at most)
	lastSweep time.Time
	sweptAtWm int64 // the latest partition watermark at the last sweep

	lookbackMs, latenessMs, horizonMs, gapMs int64
	maxUsers                                 int

	links  *stitch.Table // the links of the devices whose home and shard are this one; nil: no stitching
	afters []afterFwd    // records to forward once their units are durable
	moved  *flow.History // the stored links and rows of the devices moving with the batch being processed
	gates  moveGates     // per device, its links' moves not yet in Kafka (stitchack.go)
	// frontierAll is the latest conversion stored in any home partition,
	// where every partition's frontier starts with stitching (New).
	frontierAll int64

	// left holds, per conversion id, the days under which its stored
	// rows still show credits although its time is now on another day (a
	// copy stamped on an earlier day became the conversion): its next
	// attribution retracts them. Empty unless a producer re-sent a
	// conversion stamped earlier after its first credit was stored.
	left map[string][]int32

	applied    *attribution.Fits // the fits eng holds
	fitIDs     []string          // per model, the fit id eng applies; nil when none
	dataDriven []int             // indices of the data-driven models

	// credited counts the sets this shard credited, their path
	// touchpoints and their cells: growCredits sizes a unit's credit
	// slices from their ratios.
	credited struct{ sets, path, cells int }
}

// Start is what a generation knows at its start, from ClickHouse.
type Start struct {
	Frontiers  map[int32]int64  // per home partition: latest conversion attributed
	Watermarks map[int32]int64  // per home partition: latest touchpoint stored
	Stored     map[uint64]uint8 // hashes of the keys with stored events: stored* bits
	// Sources is the partition count of the touchpoints topic: a home's
	// watermark is the lowest of theirs (default 1).
	Sources int
	// Identity stitching (Config.Stitch): the stored links of the devices
	// whose home and shard are this one, the forwarder to other homes,
	// the number of homes (repartition partitions) and of shards per
	// member.
	Links  []schemas.Link
	Fwd    flow.Forwarder
	Homes  int
	Shards int
}

// New returns shard id, which sends its units to out and reads users'
// history from hist. cfg must have its defaults set (WithDefaults).
func New(id int, cfg *Config, out Output, hist History, st *flow.Stats, start Start) (*Shard, error) {
	eng, err := attribution.NewEngine(cfg.Attribution)
	if err != nil {
		return nil, err
	}
	sh := &Shard{
		id: id, cfg: cfg, eng: eng, In: make(chan []flow.Item, max(1, cfg.QueueSize/flow.BatchItems)), out: out, hist: hist, st: st,
		tpTopic: cfg.TouchpointsTopic, parts: map[int32]*partState{},
		start: start, stored: start.Stored, u: flow.GetUnit(), lastSweep: time.Now(), dims: newDimTable(),
		lookbackMs: eng.LookbackMs(), latenessMs: cfg.AllowedLateness.Milliseconds(),
		horizonMs: cfg.Horizon.Milliseconds(), gapMs: cfg.SessionGap.Milliseconds(),
		maxUsers: max(1, cfg.MaxUsers),
	}
	for i, m := range eng.Models() {
		sh.models = append(sh.models, m.Name())
		if slices.Contains(attribution.DataDrivenModelNames, m.Name()) {
			sh.dataDriven = append(sh.dataDriven, i)
		}
	}
	if cfg.Stitch {
		sh.links = stitch.NewTable()
		for _, l := range start.Links {
			sh.links.Add(l)
		}
		// A user's devices' conversions were released at the devices'
		// homes, and their conversions rows carry those partitions: a
		// home's own stored conversions say nothing of them. Every home
		// starts at the latest conversion stored in any (see
		// partState.frontier).
		var latest int64
		for _, ms := range start.Frontiers {
			latest = max(latest, ms)
		}
		sh.frontierAll = latest
	}
	sh.applyFits()
	return sh, nil
}

// KeyHash identifies a key in the stored set; a collision only costs an
// unneeded history load.
func KeyHash(key string) uint64 { return murmur3.StringSum64(key) }

// keyHashBytes is KeyHash of the key held as bytes.
func keyHashBytes(key []byte) uint64 { return murmur3.Sum64(key) }

// Bits of the stored set.
const (
	StoredEvents      uint8 = 1 << iota // ClickHouse holds events of the key
	StoredConversions                   // ... among them attributed conversions
)

// mayHaveHistory reports whether ClickHouse may hold events of key that are
// not in memory: the key was stored before this generation, or evicted.
// Users it says no for are new: they need no history load at all.
func (s *Shard) mayHaveHistory(key string) bool {
	return s.stored[KeyHash(key)]&StoredEvents != 0
}

// lateNeedsHistory reports whether a touchpoint at or before its
// partition's frontier needs key's history first: only when ClickHouse may
// hold attributed conversions of key that are not in memory, which the
// touchpoint could re-attribute. (After a restart nearly every touchpoint
// is at or before the frontier; most users never converted.)
func (s *Shard) lateNeedsHistory(key string) bool {
	if u := s.users.get(key); u != nil && u.loaded {
		return false
	}
	return s.stored[KeyHash(key)]&StoredConversions != 0
}

// needsHistory reports whether key's state must be completed from
// ClickHouse before it is used for attribution.
func (s *Shard) needsHistory(key string) bool {
	if u := s.users.get(key); u != nil {
		return !u.loaded
	}
	return s.mayHaveHistory(key)
}

func (s *Shard) part(p int32) *partState {
	ps := s.parts[p]
	if ps == nil {
		ps = &partState{frontier: max(s.start.Frontiers[p], s.frontierAll), wm: s.start.Watermarks[p], srcs: make([]srcMark, max(1, s.start.Sources))}
		s.parts[p] = ps
	}
	return ps
}

func (s *Shard) user(key string, p int32) *user {
	u, added := s.users.getOrAdd(key)
	if added {
		u.partition, u.loaded = p, !s.mayHaveHistory(key)
		s.st.UsersInMemory.Add(1)
	}
	return u
}

// maxShardBatch bounds the items a shard takes from its queue at once. The
// history of the users of one batch is loaded in one query, so a larger
// batch means fewer ClickHouse round trips when many users need it (after
// a restart); the queue's own bound keeps memory in check.
const maxShardBatch = 4096

// Run processes items until ctx ends or a history load fails for good.
func (s *Shard) Run(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-s.In:
			s.batch = append(s.batch[:0], b...)
			flow.PutItems(b)
		more:
			for len(s.batch) < maxShardBatch {
				select {
				case b := <-s.In:
					s.batch = append(s.batch, b...)
					flow.PutItems(b)
				default:
					break more
				}
			}
			if err := s.process(ctx, s.batch); err != nil {
				return err
			}
			clear(s.batch)
		case <-tick.C:
			s.applyFits()
			if err := s.release(ctx, false); err != nil {
				return err
			}
			if err := s.emit(ctx); err != nil {
				return err
			}
			if err := s.runAfters(ctx); err != nil {
				return err
			}
			if s.sweepDue() {
				s.sweep()
			}
		}
	}
}

func (s *Shard) process(ctx context.Context, batch []flow.Item) error {
	s.applyFits()
	// Touchpoints that may belong to an already attributed conversion need
	// the user's history first; load it for the whole batch at once. The
	// users of the batch's conversions need it too once the conversions
	// are released: loaded in the same query, not in a second one at the
	// release. A load reads granules of every part for each key, so its
	// cost hardly depends on the keys it asks for: after a restart, when
	// most users need one, a query per batch instead of two is what sets
	// the catch-up speed (docs/BENCHMARKS.md, "Catch-up after a restart").
	var want map[string]int32
	lo := int64(1 << 62)
	tps := 0
	var moving []string
	moveLo := int64(1 << 62)
	for i := range batch {
		if i%warmGroup == 0 {
			s.warm(batch[i:min(i+warmGroup, len(batch))], false)
		}
		it := &batch[i]
		var key string
		var ms int64
		switch it.Kind {
		case flow.KindTouchpoint:
			tps++
			if it.TP.TimeMs > s.part(it.Partition).frontier {
				continue
			}
			var away bool
			if key, away = s.resolve(it); away {
				continue
			}
			ms = it.TP.TimeMs
			if !s.lateNeedsHistory(key) {
				continue
			}
		case flow.KindConversion:
			var away bool
			if key, away = s.resolve(it); away {
				continue
			}
			ms = it.CV.TimeMs
			if !s.needsHistory(key) {
				continue
			}
		case flow.KindMove:
			// The user a device leaves or joins: all of its credited
			// conversions within the horizon are credited again. A
			// move reads the device's stored links (a move-in its rows
			// too): with the batch's others, in one query.
			key, ms = it.Move.To, s.part(it.Partition).wm
			if it.Move.Out {
				key = it.Move.From
			}
			moving = append(moving, it.Move.Anon)
			moveLo = min(moveLo, ms)
			if key == it.Move.Anon || !s.needsHistory(key) {
				continue
			}
		default:
			continue
		}
		if want == nil {
			want = map[string]int32{}
		}
		if _, ok := want[key]; !ok {
			want[key] = it.Partition
		}
		lo = min(lo, ms)
	}
	if len(want) > 0 {
		if err := s.loadHistory(ctx, want, lo); err != nil {
			return err
		}
	}
	s.moved = nil
	if len(moving) > 0 {
		slices.Sort(moving)
		h, err := s.fetchHistory(ctx, slices.Compact(moving), moveLo)
		if err != nil {
			return err
		}
		s.moved = &h
	}
	// Room for the batch's rows and acks at once: a unit fresh from the
	// pool would otherwise grow (and copy) its slices several times.
	s.u.TPs = slices.Grow(s.u.TPs, tps)
	s.u.Acks = slices.Grow(s.u.Acks, len(batch))
	for i := range batch {
		if i%warmGroup == 0 {
			s.warm(batch[i:min(i+warmGroup, len(batch))], true)
		}
		it := &batch[i]
		switch it.Kind {
		case flow.KindTouchpoint, flow.KindConversion:
			// Resolved again, not taken from the first loop: a link
			// earlier in this batch may have changed the device's user.
			key, away := s.resolve(it)
			if away {
				if err := s.forwardEvent(ctx, it.Kind, key, it.Value, it.Origin, it.Offset, it.Ack); err != nil {
					return err
				}
				continue
			}
			if it.Kind == flow.KindTouchpoint {
				s.touchpoint(it, key)
			} else {
				s.conversion(it, key)
			}
		case flow.KindIdentity, flow.KindLink:
			s.link(it)
		case flow.KindMove:
			if err := s.move(ctx, it); err != nil {
				return err
			}
		case flow.KindMark:
			s.part(it.Partition).mark(it.Src, it.WM, it.CaughtUp)
		case flow.KindBarrier, flow.KindFlushAll:
			if err := s.release(ctx, it.Kind == flow.KindFlushAll); err != nil {
				return err
			}
			if err := s.emit(ctx); err != nil {
				return err
			}
			if err := s.runAfters(ctx); err != nil {
				return err
			}
			close(it.Reply)
		}
	}
	if err := s.release(ctx, false); err != nil {
		return err
	}
	if err := s.emit(ctx); err != nil {
		return err
	}
	return s.runAfters(ctx)
}

// warmGroup is how many items' users warm reads at once.
const warmGroup = 32

// warm reads the memory that looking up the users of items' conversions,
// and with touchpoints their touchpoints', reads next (userTable.touch),
// for all of them before the first is handled. Each lookup is a chain of
// cache misses (the index slot, the user, the journey holding the key)
// that the shard would otherwise wait for one user after the other; here
// the chains of the group's items are independent of each other, so the
// processor runs them side by side, and the lookups that follow find
// their memory in the cache (docs/BENCHMARKS.md, "The attributor's CPU per
// event, fourth pass"). It changes nothing: a key resolved elsewhere
// (stitching) or a user added meanwhile only makes a read useless. The
// first walk over a batch looks up only the conversions' users
// (needsHistory), the second every item's.
func (s *Shard) warm(items []flow.Item, touchpoints bool) {
	var sum byte
	for i := range items {
		if it := &items[i]; it.Kind == flow.KindConversion || touchpoints && it.Kind == flow.KindTouchpoint {
			sum += s.users.touch(keyOf(it))
		}
	}
	s.warmed += sum
}

// warmReady is warm for the users of conversions being released: an
// allowed lateness after they arrived, their memory is cold again.
func (s *Shard) warmReady(ready []*pendingConv) {
	var sum byte
	for _, pc := range ready {
		sum += s.users.touch(pc.key)
	}
	s.warmed += sum
}

// retained returns a copy of s, a string of an event that a shard keeps
// after the event is done with (the ids of a device's touchpoints in
// devState): the live stream's decoder makes every string of an event a
// view of one block (schemas.Decoder.OneBlock), which a view kept alone
// would keep alive whole. What else a shard keeps of an event is copied
// anyway (a journey's key and ids, the dimension table's tuples) or is a
// conversion kept whole (released, pendingConv), whose block holds only
// its own strings.
func retained(s string) string { return strings.Clone(s) }

func toAttribution(tp *schemas.Touchpoint) attribution.Touchpoint {
	return attribution.Touchpoint{
		ID: tp.EventID, TimeMs: tp.TimeMs, Impression: tp.Interaction == schemas.InteractionImpression,
		Channel: tp.Channel, Source: tp.Source, Medium: tp.Medium, Campaign: tp.Campaign,
	}
}

func (s *Shard) touchpoint(it *flow.Item, key string) {
	ps := s.part(it.Partition)
	tp := &it.TP
	s.st.Touchpoints.Add(1)
	if tp.TimeMs < ps.wm-s.horizonMs {
		// Beyond the re-attribution horizon: kept raw, reported, not applied.
		s.st.TooLate.Add(1)
		s.u.TPs = append(s.u.TPs, flow.TPRow{TP: *tp, SessionStart: tp.TimeMs, Partition: it.Partition, TooLate: true})
		s.rejectTooLate(it, s.tpTopic, tp.TimeMs, ps.wm, "attributed")
		return
	}
	u := s.user(key, it.Partition)
	at := toAttribution(tp)
	i, st, movedFromMs := u.journey.put(&at, s.dims)
	if st != putNew {
		s.st.Duplicates.Add(1)
	}
	if st == putDup {
		s.u.Acks = append(s.u.Acks, it.Ack)
		return
	}
	if st == putNew && tp.UserID == "" && tp.AnonymousID != key {
		u.addGuest(retained(tp.AnonymousID), retained(tp.EventID)) // a linked device's
	}
	// A copy earlier than the one held replaced it (the earliest copy
	// wins, as in replay): it is stored too, so that a history load
	// finds it, and the paths it joins or leaves are credited again.
	s.u.TPs = append(s.u.TPs, flow.TPRow{TP: *tp, SessionStart: u.journey.sessionStart(i, s.gapMs), Partition: it.Partition})
	s.u.Acks = append(s.u.Acks, it.Ack)
	u.lastSeq = s.seq + 1
	moved := at
	moved.TimeMs = movedFromMs
	if tp.TimeMs <= ps.frontier {
		// Late: re-attribute the conversions whose path it joins.
		rel := u.released()
		for i := range rel {
			if s.eng.Window(&at, rel[i].cv.TimeMs) || st == putMoved && s.eng.Window(&moved, rel[i].cv.TimeMs) {
				s.attribute(u, &rel[i])
				s.u.Reattributed++ // counted once durable
			}
		}
	}
}

func (s *Shard) conversion(it *flow.Item, key string) {
	cv := &it.CV
	s.st.Conversions.Add(1)
	u := s.user(key, it.Partition)
	c := u.convs()
	for _, id := range c.pendingIDs {
		if id == cv.EventID {
			s.st.Duplicates.Add(1)
			s.u.Acks = append(s.u.Acks, it.Ack)
			return
		}
	}
	for i := range c.released {
		if r := &c.released[i]; r.cv.EventID == cv.EventID && !r.fromHistory {
			s.st.Duplicates.Add(1)
			s.u.Acks = append(s.u.Acks, it.Ack)
			return
		}
	}
	c.pendingIDs = append(c.pendingIDs, cv.EventID)
	pc := s.newPendingConv()
	*pc = pendingConv{cv: *cv, key: key, ack: it.Ack, arrived: time.Now(), partition: it.Partition}
	if s.links != nil && cv.UserID == "" {
		pc.value, pc.origin, pc.offset = it.Value, it.Origin, it.Offset
	}
	s.part(it.Partition).pending.Push(cv, pc)
	s.st.Pending.Add(1)
}

// release attributes the pending conversions whose time has come: the
// touchpoint watermark of their partition has passed them by the allowed
// lateness, or that partition is caught up and they have waited the allowed
// lateness in wall-clock time, or force.
func (s *Shard) release(ctx context.Context, force bool) error {
	// The buffer of the last call, grown to the largest release so far:
	// release runs every batch, and a fresh slice grown by appends was
	// several allocations each time. Cleared on the way out so that it
	// keeps no conversion alive.
	ready := s.ready[:0]
	defer func() { clear(ready); s.ready = ready[:0] }()
	now := time.Now()
	for _, ps := range s.parts {
		for ps.pending.Len() > 0 {
			top, _ := ps.pending.Top()
			if !force && top.cv.TimeMs+s.latenessMs > ps.wm &&
				!(ps.caughtUp && now.Sub(top.arrived) >= s.cfg.AllowedLateness) {
				break
			}
			ready = append(ready, ps.pending.Pop())
		}
	}
	if len(ready) == 0 {
		return nil
	}
	slices.SortFunc(ready, byRelease) // sort.Slice allocated its swapper and closure every call
	s.growCredits(len(ready))
	var want map[string]int32
	lo := int64(1 << 62)
	for i, pc := range ready {
		if i%warmGroup == 0 {
			s.warmReady(ready[i:min(i+warmGroup, len(ready))])
		}
		if s.needsHistory(pc.key) {
			if want == nil {
				want = map[string]int32{}
			}
			want[pc.key] = pc.partition
			lo = min(lo, pc.cv.TimeMs)
		}
	}
	if len(want) > 0 {
		if err := s.loadHistory(ctx, want, lo); err != nil {
			// Put them back; they are retried on the next tick.
			for _, pc := range ready {
				s.part(pc.partition).pending.Push(&pc.cv, pc)
			}
			return err
		}
	}
	for _, pc := range ready {
		s.st.Pending.Add(-1)
		u := s.user(pc.key, pc.partition)
		c := u.convs()
		for i, id := range c.pendingIDs {
			if id == pc.cv.EventID {
				c.pendingIDs = append(c.pendingIDs[:i], c.pendingIDs[i+1:]...)
				break
			}
		}
		if anon := pc.cv.AnonymousID; pc.cv.UserID == "" && u.gone(anon) {
			// Its device moved to another user since it arrived: back to
			// the device's home, which holds its link.
			if err := s.forwardEvent(ctx, flow.KindConversion, anon, pc.value, pc.origin, pc.offset, pc.ack); err != nil {
				return err
			}
			continue
		}
		idx := -1
		for i := range c.released {
			if c.released[i].cv.EventID == pc.cv.EventID {
				idx = i
			}
		}
		if idx < 0 {
			c.released = append(c.released, released{cv: pc.cv})
			idx = len(c.released) - 1
		} else {
			// A copy of a conversion an earlier process attributed (read
			// back from ClickHouse; conversion() drops the copies of the
			// others): attributed again, as its rows may not all be
			// durable, but as its earliest copy, which replay keeps (the
			// stored one on a tie). A producer's re-send stamped later
			// must not move it.
			if pc.cv.TimeMs < c.released[idx].cv.TimeMs {
				s.leave(pc.cv.EventID, c.released[idx].cv.TimeMs, pc.cv.TimeMs)
				c.released[idx].cv = pc.cv
			}
			c.released[idx].fromHistory = false
			pc.cv = c.released[idx].cv
		}
		s.attribute(u, &c.released[idx])
		if s.cfg.Attribution.ResetOnConversion {
			// A conversion that arrived after later ones of its user were
			// credited cuts their paths: credit them again (their version
			// counts it, so the new rows supersede).
			for i := range c.released {
				if r := &c.released[i]; pending.Less(&pc.cv, &r.cv) && r.cv.TimeMs-s.lookbackMs <= pc.cv.TimeMs {
					s.attribute(u, r)
					s.u.Reattributed++ // counted once durable
				}
			}
		}
		s.u.Convs = append(s.u.Convs, flow.ConvRow{CV: pc.cv, Partition: pc.partition})
		s.u.Acks = append(s.u.Acks, pc.ack)
		ps := s.part(pc.partition)
		ps.frontier = max(ps.frontier, pc.cv.TimeMs)
		s.u.Attributed++ // counted once durable
	}
	// Every one is done with: what was kept of it was copied (released,
	// the unit's rows and acks, a forward).
	for _, pc := range ready {
		s.freePendingConv(pc)
	}
	return nil
}

// maxFreePCs bounds the pendingConvs a shard keeps for reuse: more than a
// release of a busy batch frees, a few tens of kB.
const maxFreePCs = 256

// newPendingConv returns a pendingConv to fill: one a release freed, else
// a new one. A conversion cost one allocation here that lived only until
// its release.
func (s *Shard) newPendingConv() *pendingConv {
	if n := len(s.freePCs); n > 0 {
		pc := s.freePCs[n-1]
		s.freePCs[n-1] = nil
		s.freePCs = s.freePCs[:n-1]
		return pc
	}
	return new(pendingConv)
}

// freePendingConv empties pc, which nothing refers to any more, and keeps
// it for newPendingConv while there is room.
func (s *Shard) freePendingConv(pc *pendingConv) {
	*pc = pendingConv{}
	if len(s.freePCs) < maxFreePCs {
		s.freePCs = append(s.freePCs, pc)
	}
}

// byRelease orders pending conversions as pending.Less does.
func byRelease(a, b *pendingConv) int {
	switch {
	case pending.Less(&a.cv, &b.cv):
		return -1
	case pending.Less(&b.cv, &a.cv):
		return 1
	}
	return 0
}

// attribute credits r's conversion to u's current path and appends the
// rows, under the version that counts the events the path was computed
// from, or one above the version it was last written with if that is not
// lower: a device's move can shrink a path, or carry a conversion to a
// user with fewer events, and the new rows must still supersede.
func (s *Shard) attribute(u *user, r *released) {
	cv := &r.cv
	after := int64(attribution.NoReset)
	version := uint32(1)
	if s.cfg.Attribution.ResetOnConversion {
		rel := u.released()
		for i := range rel {
			r := &rel[i].cv
			if pending.Less(r, cv) {
				if after == attribution.NoReset || r.TimeMs > after {
					after = r.TimeMs
				}
				if r.TimeMs >= cv.TimeMs-s.lookbackMs {
					version++
				}
			}
		}
	}
	from := cv.TimeMs - s.lookbackMs
	version += uint32(u.journey.count(from, cv.TimeMs))
	if version <= r.version {
		version = r.version + 1
	}
	r.version = version
	lo := from
	if after != attribution.NoReset && after >= lo {
		lo = after + 1
	}
	s.path = u.journey.latest(lo, cv.TimeMs, s.eng.MaxPath(), s.eng, s.dims, s.path[:0])

	conv := attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros}
	s.eng.Attribute(conv, s.path, after, &s.res)
	if s.res.Capped {
		s.st.PathsCapped.Add(1)
	}
	for _, m := range s.dataDriven {
		if s.fitIDs == nil || s.fitIDs[m] == "" {
			s.st.ModelSkipped.Add(1)
		}
	}
	cr := &s.u.Credits
	cr.Models = s.models
	cr.Sets = append(cr.Sets, flow.CreditSet{
		ConversionID: cv.EventID, ConversionType: cv.ConversionType, UserKey: u.key(), Currency: cv.Currency,
		TimeMs: cv.TimeMs, Version: version,
		Path: uint32(len(cr.Path)), PathLen: uint32(len(s.res.Path)),
		Cells: uint32(len(cr.Cells)), CellsLen: uint32(len(s.res.Credits)),
		FitIDs: s.fitIDs,
	})
	cr.Path = append(cr.Path, s.res.Path...)
	for _, c := range s.res.Credits {
		cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: c.Fraction, Revenue: c.RevenueMicros, Position: uint32(c.Position), Model: uint16(c.Model)})
	}
	s.credited.sets++
	s.credited.path += len(s.res.Path)
	s.credited.cells += len(s.res.Credits)
	if len(s.left) > 0 {
		s.retract(u, cv)
	}
	u.lastSeq = s.seq + 1
}

// growCredits makes room in the current unit for n more credited sets,
// with as many path touchpoints and cells per set as this shard's sets
// had on average so far. A unit fresh from flow.UnitPool has no room, and
// while catching up most are fresh (the sink holds a batch's units for a
// second or more, past the collections that empty the pool): the cells,
// grown by doubling, were allocated about four times over
// (docs/BENCHMARKS.md). A set larger than the average only grows the
// slices as before.
func (s *Shard) growCredits(n int) {
	cr := &s.u.Credits
	cr.Sets = slices.Grow(cr.Sets, n)
	if c := &s.credited; c.sets > 0 {
		cr.Path = slices.Grow(cr.Path, n*((c.path+c.sets-1)/c.sets))
		cr.Cells = slices.Grow(cr.Cells, n*((c.cells+c.sets-1)/c.sets))
	}
}

// leave records that conversion id's time moves from fromMs to the earlier
// toMs: when that changes its day, its rows under the old one are to be
// retracted.
func (s *Shard) leave(id string, fromMs, toMs int64) {
	from := dayOf(fromMs)
	if from == dayOf(toMs) || slices.Contains(s.left[id], from) {
		return
	}
	if s.left == nil {
		s.left = map[string][]int32{}
	}
	s.left[id] = append(s.left[id], from)
}

// retract appends a retraction of cv under each day it left (see left),
// with the set that credits it under its own day: both are written in
// one flush, and a crash before they are durable leaves the old day's
// rows showing, which the next load finds again (flow.History.Days).
func (s *Shard) retract(u *user, cv *schemas.Conversion) {
	days, ok := s.left[cv.EventID]
	if !ok {
		return
	}
	delete(s.left, cv.EventID)
	cr := &s.u.Credits
	for _, d := range days {
		if d == dayOf(cv.TimeMs) {
			continue // the day it is credited under now
		}
		s.st.Retractions.Add(1)
		cr.Sets = append(cr.Sets, flow.CreditSet{
			ConversionID: cv.EventID, ConversionType: cv.ConversionType, UserKey: u.key(), Currency: cv.Currency,
			TimeMs: int64(d) * msPerDay, Version: flow.RetractVersion,
			Path: uint32(len(cr.Path)), Cells: uint32(len(cr.Cells)), Retract: true,
		})
	}
}

const msPerDay = 24 * 60 * 60 * 1000

// dayOf is the UTC day of ms, in days since the epoch (the table's
// conversion_date).
func dayOf(ms int64) int32 {
	d := ms / msPerDay
	if ms%msPerDay < 0 {
		d--
	}
	return int32(d)
}

// loadHistory merges what ClickHouse holds of the users in want (key to
// partition) into their state, for events at or after the earliest time
// that a conversion at sinceMs, or one attributed within the horizon before
// it, could look back to.
func (s *Shard) loadHistory(ctx context.Context, want map[string]int32, sinceMs int64) error {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h, err := s.fetchHistory(ctx, keys, sinceMs)
	if err != nil {
		return err
	}
	for _, key := range keys {
		u := s.user(key, want[key])
		// In time order, so that a long history appends rather than
		// inserts (ClickHouse returns the rows of each part in order).
		tps := h.Touchpoints[key]
		sortByTime(tps)
		for i := range tps {
			u.journey.add(&tps[i], s.dims)
		}
		s.mergeConversions(u, h.Conversions[key], &h)
		for _, anon := range h.Devices[key] {
			s.mergeDevice(u, anon, &h)
		}
		u.loaded = true
	}
	s.st.HistoryLoads.Add(int64(len(keys)))
	return nil
}

// fetchHistory reads keys' history for a conversion at sinceMs (see
// loadHistory), retrying with backoff until it succeeds or ctx ends.
func (s *Shard) fetchHistory(ctx context.Context, keys []string, sinceMs int64) (flow.History, error) {
	fromMs := sinceMs - s.horizonMs - s.latenessMs - s.lookbackMs
	backoff := 100 * time.Millisecond
	for {
		h, err := s.hist.Load(ctx, keys, fromMs, fromMs+s.lookbackMs)
		if err == nil {
			return h, nil
		}
		s.cfg.Logger.Warn("history load failed; retrying", "shard", s.id, "users", len(keys), "err", err)
		select {
		case <-ctx.Done():
			return h, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// rejectTooLate dead-letters item it, consumed from topic and stamped at
// ms, as too_late: older than its home's watermark wm by more than the
// horizon; stored, never done (what: "attributed", "applied").
func (s *Shard) rejectTooLate(it *flow.Item, topic string, ms, wm int64, what string) {
	msg := fmt.Sprintf("timestamp: %s is older than its partition's watermark %s by more than the re-attribution horizon (%s); stored, not %s",
		time.UnixMilli(ms).UTC().Format(time.RFC3339Nano), time.UnixMilli(wm).UTC().Format(time.RFC3339Nano), s.cfg.Horizon, what)
	s.st.Rejected.Record(flow.ReasonTooLate, topic, int(it.Origin), it.Offset, msg)
	s.u.Dead = append(s.u.Dead, s.deadLetter(it, topic, flow.ReasonTooLate, msg))
	s.u.Acks = append(s.u.Acks, it.Ack)
}

func (s *Shard) deadLetter(it *flow.Item, topic, reason, msg string) flow.DeadLetter {
	dl := flow.DeadLetter{Reason: reason, Err: msg}
	dl.Msg.Topic, dl.Msg.Partition, dl.Msg.Offset = topic, int(it.Origin), it.Offset
	dl.Msg.Key, dl.Msg.Value = it.Key, it.Value
	return dl
}

// emit hands the current unit to the sink.
func (s *Shard) emit(ctx context.Context) error {
	if s.u.Empty() {
		return nil
	}
	s.seq++
	if !s.out.Send(ctx, s.id, s.seq, s.u) {
		return ctx.Err()
	}
	s.u = flow.GetUnit()
	return nil
}

// sweepDue says whether a sweep can free anything worth its cost (a walk
// over every user): when users exceed the cap, or when event time moved by
// a 32nd of the retention (lookback + horizon) since the last one, at most
// every 5 s. Replaying a backlog of one day with a 30-day lookback thus
// walks the users once or twice, not every 5 s.
func (s *Shard) sweepDue() bool {
	if time.Since(s.lastSweep) < 5*time.Second {
		return false
	}
	if s.users.len() > s.maxUsers || s.dims.due() {
		return true
	}
	var wm int64
	for _, ps := range s.parts {
		wm = max(wm, ps.wm)
	}
	return wm-s.sweptAtWm >= (s.lookbackMs+s.horizonMs)/32 || time.Since(s.lastSweep) > 10*time.Minute
}

// sweep drops what no window can need any more, and evicts users beyond the
// memory cap whose rows are all durable (they are reloaded on demand).
func (s *Shard) sweep() {
	s.lastSweep = time.Now()
	for _, ps := range s.parts {
		s.sweptAtWm = max(s.sweptAtWm, ps.wm)
	}
	acked := s.out.Acked(s.id)
	for place, u := range s.users.all() {
		ps := s.part(u.partition)
		if ps.wm == 0 {
			continue
		}
		u.journey.prune(ps.wm - s.horizonMs - s.lookbackMs - s.latenessMs)
		if c := u.conv; c != nil {
			keep := c.released[:0]
			for _, r := range c.released {
				if r.cv.TimeMs >= ps.wm-s.horizonMs-s.latenessMs {
					keep = append(keep, r)
				}
			}
			clear(c.released[len(keep):])
			c.released = keep
			if len(c.released) == 0 && len(c.pendingIDs) == 0 {
				u.conv = nil
			}
		}
		if u.journey.len() == 0 && u.conv == nil && u.lastSeq <= acked {
			s.users.delete(place)
			s.st.UsersInMemory.Add(-1)
		}
	}
	defer func() {
		s.users.shrink()
		if s.dims.due() {
			s.compactDims()
		}
	}()
	if s.users.len() <= s.maxUsers {
		return
	}
	target := s.maxUsers * 9 / 10
	for place, u := range s.users.all() {
		if s.users.len() <= target {
			break
		}
		if u.pending() == 0 && u.lastSeq <= acked {
			bits := StoredEvents
			if u.conv != nil {
				bits |= StoredConversions
			}
			s.stored[keyHashBytes(u.journey.key())] |= bits
			s.users.delete(place)
			s.st.UsersInMemory.Add(-1)
		}
	}
}

// compactDims drops the dimension tuples that no held touchpoint uses any
// more (their users were pruned or evicted) and renumbers the rest, in one
// walk over the held touchpoints. The sweep calls it once the table has
// doubled since the last compaction, so its cost is amortized over at
// least as many new tuples as survive it.
func (s *Shard) compactDims() {
	remap := make([]uint32, s.dims.len()) // new index + 1; 0: not used
	var vals []dimVal
	for _, u := range s.users.all() {
		u.journey.remapDims(func(old uint32) uint32 {
			if remap[old] == 0 {
				vals = append(vals, s.dims.vals[old])
				remap[old] = uint32(len(vals))
			}
			return remap[old] - 1
		})
	}
	s.dims.replace(slices.Clip(vals))
}
