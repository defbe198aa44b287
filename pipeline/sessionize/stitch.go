package sessionize

import (
	"context"
	"errors"
	"sort"

	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
)

// Identity stitching in the shards (docs/DESIGN.md, "Identity stitching in
// the stream"):
//
//   - The shard that owns an anonymous_id at its home holds its link
//     (s.links) and is the only one that decides its user. Identity events
//     and the link copies of events carrying both ids come to it.
//   - A device's event (no user_id) reaches the home of its anonymous_id.
//     Linked, it is processed under the user: here when the user's home
//     and shard are this one, else forwarded there. Events are stored under
//     their own key (the anonymous_id), wherever they are processed, so a
//     user's history is its own rows plus those of its devices.
//   - A link that changes a device's user is a move. The device's home
//     drops what it holds of the device (a first link) or sends a move-out
//     to the old user's home (a relink), which drops the device's events
//     from the old user's journey and re-attributes its conversions; then,
//     once what the dropping shard wrote is durable, a move-in goes to the
//     new user's home, which loads the device's stored events into the
//     user's journey and re-attributes. Each step's ack fires only when the
//     next record is in Kafka, so a crash repeats a step, never loses one;
//     every step is idempotent. A link that takes over as the deciding
//     one also waits for the device's earlier moves (stitchack.go); a
//     move-out drops nothing when the stored links name the user it
//     leaves (the device came back since).
//   - Versions: a conversion credited again always gets a version above
//     every one it was written with (released.version, read back from
//     ClickHouse on a history load), so that the view shows the latest
//     credits whichever home wrote them.

// devState is what a user holds of the devices linked to it.
type devState struct {
	guests map[string][]string // anonymous_id → ids of its touchpoints in the journey
	gone   map[string]bool     // anonymous_ids moved away: their pending conversions go back to the device's home
}

func (u *user) devs() *devState {
	if u.dev == nil {
		u.dev = &devState{guests: map[string][]string{}, gone: map[string]bool{}}
	}
	return u.dev
}

// addGuest records that touchpoint id of device anon is in u's journey.
func (u *user) addGuest(anon, id string) {
	d := u.devs()
	d.guests[anon] = append(d.guests[anon], id)
}

// gone says whether device anon moved away from u.
func (u *user) gone(anon string) bool { return u.dev != nil && u.dev.gone[anon] }

// afterFwd is a record to forward once the shard's units up to seq are
// durable.
type afterFwd struct {
	seq uint64
	f   flow.Forward
}

// errForward is returned when the forwarder failed: the generation ends.
var errForward = errors.New("forward to the repartition topic failed")

// keyOf is the key an event item is processed under: the one it was
// routed or forwarded with, else its own.
func keyOf(it *flow.Item) string {
	if it.UserKey != "" {
		return it.UserKey
	}
	if it.Kind == flow.KindTouchpoint {
		return it.TP.Key()
	}
	return it.CV.Key()
}

// deviceOf returns the anonymous_id of a device's event (one without a
// user_id), else "".
func deviceOf(it *flow.Item) string {
	if it.Kind == flow.KindTouchpoint {
		if it.TP.UserID == "" {
			return it.TP.AnonymousID
		}
	} else if it.CV.UserID == "" {
		return it.CV.AnonymousID
	}
	return ""
}

// resolve returns the key an event item is processed under, and whether
// that key lives elsewhere (the item must be forwarded there): a device's
// event at its anonymous_id's home goes to the user its device is linked
// to.
func (s *Shard) resolve(it *flow.Item) (key string, away bool) {
	key = keyOf(it)
	if s.links == nil {
		return key, false
	}
	anon := deviceOf(it)
	if anon == "" || key != anon {
		return key, false
	}
	user, ok := s.links.User(anon)
	if !ok {
		return key, false
	}
	return user, !s.mine(user, it.Partition)
}

// mine says whether key's state is this shard's in home partition home.
func (s *Shard) mine(key string, home int32) bool {
	return flow.Home(key, s.start.Homes) == int(home) && int(murmur3.StringSum32(key)%uint32(max(1, s.start.Shards))) == s.id
}

// forward sends f through the repartition topic.
func (s *Shard) forward(ctx context.Context, f *flow.Forward) error {
	if s.start.Fwd.Forward(ctx, f) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errForward
}

// forwardEvent sends an event (its message's value, consumed at input
// partition origin and offset) to key's home, to be processed under key;
// its ack rides on the forward.
func (s *Shard) forwardEvent(ctx context.Context, kind flow.ItemKind, key string, value []byte, origin int32, offset int64, ack flow.Ack) error {
	return s.forward(ctx, &flow.Forward{Home: flow.Home(key, s.start.Homes), Key: key, Kind: kind, Value: value, Origin: origin, Offset: offset, Ack: ack})
}

// after queues f until everything the shard handed over so far, and the
// unit being built, is durable.
func (s *Shard) after(f flow.Forward) {
	s.afters = append(s.afters, afterFwd{seq: s.seq + 1, f: f})
}

// afterMove queues move m for the home of the user it is about (From for
// a move-out, To for a move-in), once durable.
func (s *Shard) afterMove(m flow.Move, ack flow.Ack) {
	key := m.To
	if m.Out {
		key = m.From
	}
	s.after(flow.Forward{Home: flow.Home(key, s.start.Homes), Key: key, Kind: flow.KindMove, Move: m, Ack: ack})
}

// runAfters forwards the queued records whose units are durable.
func (s *Shard) runAfters(ctx context.Context) error {
	if len(s.afters) == 0 {
		return nil
	}
	acked := s.out.Acked(s.id)
	n := 0
	for _, a := range s.afters {
		// The unit a record waited for may have been empty: nothing of it
		// to wait for once every earlier one is durable.
		if a.seq > acked && !(a.seq == s.seq+1 && s.u.Empty() && acked >= s.seq) {
			break
		}
		if err := s.forward(ctx, &a.f); err != nil {
			return err
		}
		n++
	}
	clear(s.afters[:n])
	s.afters = append(s.afters[:0], s.afters[n:]...)
	return nil
}

// link takes an identity event or a link copy at its anonymous_id's home.
func (s *Shard) link(it *flow.Item) {
	l := it.Link
	ps := s.part(it.Partition)
	identity := it.Kind == flow.KindIdentity
	if identity {
		s.u.IDs = append(s.u.IDs, flow.IdentityRow{ID: schemas.Identity{EventID: l.EventID, AnonymousID: l.AnonymousID, UserID: l.UserID, TimeMs: l.TimeMs}, Partition: it.Partition})
	}
	if l.TimeMs < ps.wm-s.horizonMs {
		// Beyond the re-attribution horizon: stored, counted, never
		// applied (it would change paths credited long ago).
		s.st.LinksTooLate.Add(1)
		if !identity {
			s.u.Acks = append(s.u.Acks, it.Ack) // the event itself is judged at its own home
			return
		}
		s.u.IDs[len(s.u.IDs)-1].TooLate = true
		s.rejectTooLate(it, s.cfg.IdentitiesTopic, l.TimeMs, ps.wm, "applied")
		return
	}
	if s.links == nil {
		s.u.Acks = append(s.u.Acks, it.Ack)
		return
	}
	origin := flow.LinkFromEvent
	if identity {
		origin = flow.LinkFromIdentity
	}
	ch := s.links.Add(l)
	row := flow.LinkRow{Link: l, Home: it.Partition, Origin: origin}
	switch ch.Outcome {
	case stitch.Linked, stitch.Relinked:
		s.u.Links = append(s.u.Links, row)
		if identity {
			s.st.LinksIdentity.Add(1)
		} else {
			s.st.LinksEvent.Add(1)
		}
		if ch.NewConflict {
			s.st.LinkConflicts.Add(1)
		}
		if ch.Outcome == stitch.Linked {
			if !s.deviceHasEvents(l.AnonymousID) {
				// Nothing to move: the device's events to come will
				// go to its user.
				s.u.Acks = append(s.u.Acks, it.Ack)
				return
			}
			s.dropDevice(s.users.get(l.AnonymousID), l.AnonymousID, false)
			s.linkMove(flow.Move{Anon: l.AnonymousID, From: ch.From, To: ch.To}, it.Ack)
		} else {
			s.linkMove(flow.Move{Anon: l.AnonymousID, From: ch.From, To: ch.To, Out: true}, it.Ack)
		}
		return
	case stitch.Earlier:
		s.u.Links = append(s.u.Links, row)
		s.ackTakeover(l.AnonymousID, it.Ack)
		return
	case stitch.Conflict:
		if ch.NewConflict {
			s.u.Links = append(s.u.Links, row)
			s.st.LinkConflicts.Add(1)
		}
	case stitch.Ignored:
		if d, ok := s.links.Decider(l.AnonymousID); ok && d.EventID == l.EventID && d.UserID == l.UserID {
			// The deciding link again: consumed anew after a crash, its
			// move may never have been sent (its ack rides on the move).
			// Send it again; every step of a move is idempotent.
			s.reissue(it, d)
			return
		}
	}
	s.u.Acks = append(s.u.Acks, it.Ack)
}

// reissue sends the moves of device d.AnonymousID's deciding link again:
// the drop here, and the move-in (a first link) or a move-out from every
// other user it was linked to (a relink; each sends the move-in on once it
// dropped the device). Not both: a move-in sent from here could reach the
// user before an old user stopped crediting the device's conversions.
func (s *Shard) reissue(it *flow.Item, d schemas.Link) {
	anon, to := d.AnonymousID, d.UserID
	s.dropDevice(s.users.get(anon), anon, false)
	others := s.links.ConflictsOf(anon)
	if len(others) == 0 {
		if !s.deviceHasEvents(anon) {
			s.u.Acks = append(s.u.Acks, it.Ack)
			return
		}
		s.linkMove(flow.Move{Anon: anon, From: anon, To: to}, it.Ack)
		return
	}
	ack := flow.SplitAck(it.Ack, len(others))
	for _, from := range others {
		s.linkMove(flow.Move{Anon: anon, From: from, To: to, Out: true}, ack)
	}
}

// deviceHasEvents says whether device anon, unlinked so far, has events
// under its own key: in memory, or possibly stored (before this
// generation, or evicted). Every event of an unlinked device is processed
// here, so when it has none, its first link moves nothing.
func (s *Shard) deviceHasEvents(anon string) bool {
	if u := s.users.get(anon); u != nil && (u.journey.len() > 0 || len(u.released()) > 0 || u.pending() > 0) {
		return true
	}
	return s.mayHaveHistory(anon)
}

// dropDevice takes device anon's events out of u (which may be nil): its
// touchpoints leave the journey (all of them when u is the device itself),
// its credited conversions are forgotten (the user it moved to credits
// them from the stored rows), its pending ones go back to the device's
// home when released (which sends them to its user of that moment: not
// necessarily the one of this move, if another link came since), and u's
// remaining conversions are credited again when reattribute (a move-out:
// their paths may have held the device's touchpoints).
func (s *Shard) dropDevice(u *user, anon string, reattribute bool) {
	if u == nil {
		return
	}
	if u.key() == anon {
		u.journey = newJourney(anon)
	} else if u.dev != nil {
		var uuid [16]byte
		for _, id := range u.dev.guests[anon] {
			isUUID := parseUUID(id, &uuid)
			if i := u.journey.find(id, &uuid, isUUID); i >= 0 {
				u.journey.remove(i, id)
			}
		}
		delete(u.dev.guests, anon)
	}
	if c := u.conv; c != nil {
		keep := c.released[:0]
		for _, r := range c.released {
			if r.cv.UserID != "" || r.cv.AnonymousID != anon {
				keep = append(keep, r)
			}
		}
		clear(c.released[len(keep):])
		c.released = keep
		if len(c.pendingIDs) > 0 {
			u.devs().gone[retained(anon)] = true
		}
	}
	if reattribute {
		s.recreditByLink(u)
	}
	u.lastSeq = s.seq + 1
}

// move takes a move record: a move-out at the old user's home, or a
// move-in at the new one's.
func (s *Shard) move(ctx context.Context, it *flow.Item) error {
	m := it.Move
	h := s.moved
	if h == nil { // not read with the batch (a test's direct call)
		fetched, err := s.fetchHistory(ctx, []string{m.Anon}, s.part(it.Partition).wm)
		if err != nil {
			return err
		}
		h = &fetched
	}
	if m.Out {
		if user, ok := h.Linked[m.Anon]; ok && user == m.From {
			// Stale: the device came back to From since this move-out
			// was sent (a relink back whose move-in reached From
			// first, or this move-out consumed again after a crash).
			// The links of a move-out are durable before it is sent,
			// so links naming From are newer than it: drop nothing,
			// and send no move-in (To would find it stale).
			s.u.Acks = append(s.u.Acks, it.Ack)
			return nil
		}
		u := s.user(m.From, it.Partition) // loaded by process
		s.dropDevice(u, m.Anon, true)
		s.afterMove(flow.Move{Anon: m.Anon, From: m.From, To: m.To}, it.Ack)
		return nil
	}
	u := s.user(m.To, it.Partition) // loaded by process
	if user, ok := h.Linked[m.Anon]; ok && user != m.To {
		// Stale: the device moved on since this move was sent (a relink
		// back and forth, whose move-out reached To first). Its stored
		// links are durable before any move of theirs is sent, so they
		// say where the device is now; its latest move brings it there.
		s.u.Acks = append(s.u.Acks, it.Ack)
		return nil
	}
	s.mergeDevice(u, m.Anon, h)
	if u.dev != nil {
		delete(u.dev.gone, m.Anon)
	}
	s.recreditByLink(u)
	s.st.Moves.Add(1)
	s.u.Acks = append(s.u.Acks, it.Ack)
	return nil
}

// recreditByLink credits every conversion u holds again: a device joined
// or left u's journey.
func (s *Shard) recreditByLink(u *user) {
	rel := u.released()
	for i := range rel {
		s.attribute(u, &rel[i])
		s.u.Reattributed++
		s.u.ReattributedLink++
	}
}

// mergeDevice adds what h holds of device anon to user u: its touchpoints
// as guests of the journey, its conversions to u's credited ones (to be
// credited again by the caller).
func (s *Shard) mergeDevice(u *user, anon string, h *flow.History) {
	tps := h.Touchpoints[anon]
	sortByTime(tps)
	for i := range tps {
		if _, added := u.journey.add(&tps[i], s.dims); added {
			u.addGuest(anon, tps[i].ID)
		}
	}
	cvs := h.Conversions[anon]
	s.mergeConversions(u, cvs, h)
	// The device's conversions were credited at its home, not released
	// here: the frontier must cover them, or a late touchpoint of the
	// device (forwarded here after its link) would not be taken as
	// joining their paths.
	ps := s.part(u.partition)
	for i := range cvs {
		ps.frontier = max(ps.frontier, cvs[i].TimeMs)
	}
}

// sortByTime puts touchpoints read from the store in journey order (time,
// then id), so that a long history appends rather than inserts.
func sortByTime(tps []attribution.Touchpoint) {
	sort.Slice(tps, func(i, j int) bool {
		return tps[i].TimeMs < tps[j].TimeMs || tps[i].TimeMs == tps[j].TimeMs && tps[i].ID < tps[j].ID
	})
}

// mergeConversions adds stored (credited) conversions to u's, with the
// versions h holds, and notes the days under which h says their rows still
// show credits other than their own (see Shard.left).
func (s *Shard) mergeConversions(u *user, cvs []schemas.Conversion, h *flow.History) {
	if len(cvs) == 0 {
		return
	}
	c := u.convs()
next:
	for _, cv := range cvs {
		v := h.Versions[cv.EventID]
		for i := range c.released {
			if r := &c.released[i]; r.cv.EventID == cv.EventID {
				// Copies stored by earlier processes: the earliest is
				// the conversion (ClickHouse returns them in no
				// particular order).
				if r.fromHistory && cv.TimeMs < r.cv.TimeMs {
					r.cv = cv
				}
				r.version = max(r.version, v)
				continue next
			}
		}
		c.released = append(c.released, released{cv: cv, fromHistory: true, version: v})
	}
	if len(h.Days) == 0 {
		return
	}
	for _, r := range c.released {
		if days := h.Days[r.cv.EventID]; r.fromHistory && len(days) > 0 {
			for _, d := range days {
				if d != dayOf(r.cv.TimeMs) {
					s.leave(r.cv.EventID, int64(d)*msPerDay, r.cv.TimeMs)
				}
			}
		}
	}
}
