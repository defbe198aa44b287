package sessionize

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// fwdRecorder is a flow.Forwarder that keeps what it is sent.
type fwdRecorder struct {
	mu   sync.Mutex
	sent []flow.Forward
}

func (f *fwdRecorder) Forward(_ context.Context, fw *flow.Forward) bool {
	f.mu.Lock()
	f.sent = append(f.sent, *fw)
	f.mu.Unlock()
	return true
}

func (f *fwdRecorder) take() []flow.Forward {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.sent
	f.sent = nil
	return out
}

// ackCounter counts the offsets acknowledged.
type ackCounter struct {
	mu   sync.Mutex
	done []int64
}

func (a *ackCounter) Done(off int64) {
	a.mu.Lock()
	a.done = append(a.done, off)
	a.mu.Unlock()
}

func stitchShard(t *testing.T, homes int, hist *memHistory, links ...schemas.Link) (*Shard, *recordingOutput, *fwdRecorder, *flow.Stats) {
	t.Helper()
	cfg := Config{Stitch: true, IdentitiesTopic: "identities"}.WithDefaults()
	out := &recordingOutput{}
	out.acked.Store(1 << 40) // every unit durable at once
	fwd := &fwdRecorder{}
	st := &flow.Stats{}
	if hist.stored.Touchpoints == nil {
		hist.stored = flow.History{Touchpoints: map[string][]attribution.Touchpoint{}, Conversions: map[string][]schemas.Conversion{}}
	}
	s, err := New(0, &cfg, out, hist, st, Start{Stored: map[uint64]uint8{}, Homes: homes, Shards: 1, Fwd: fwd, Links: links})
	if err != nil {
		t.Fatal(err)
	}
	return s, out, fwd, st
}

// creditedPaths returns, per conversion, the path and version of its
// latest credited set in the units.
func creditedPaths(out *recordingOutput) map[string]struct {
	path    []string
	version uint32
	user    string
} {
	res := map[string]struct {
		path    []string
		version uint32
		user    string
	}{}
	for _, u := range out.units {
		cr := &u.Credits
		for _, set := range cr.Sets {
			var ids []string
			for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
				ids = append(ids, tp.ID)
			}
			if prev, ok := res[set.ConversionID]; ok && prev.version >= set.Version {
				panic(fmt.Sprintf("%s credited again under version %d, not above %d", set.ConversionID, set.Version, prev.version))
			}
			res[set.ConversionID] = struct {
				path    []string
				version uint32
				user    string
			}{ids, set.Version, set.UserKey}
		}
	}
	return res
}

// unitAcks returns the offsets of the acks the shard put in its units.
func unitAcks(out *recordingOutput) []int64 {
	var offs []int64
	for _, u := range out.units {
		for _, a := range u.Acks {
			offs = append(offs, a.Offset)
		}
	}
	return offs
}

func flush(t *testing.T, s *Shard, items ...flow.Item) {
	t.Helper()
	reply := make(chan struct{})
	if err := s.process(context.Background(), append(items, flow.Item{Kind: flow.KindFlushAll, Reply: reply})); err != nil {
		t.Fatal(err)
	}
	<-reply
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()

func click(id, user, anon string, ms int64) flow.Item {
	return flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: id, UserID: user, AnonymousID: anon, TimeMs: ms,
		Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc"}}
}

func purchase(id, user, anon string, ms int64) flow.Item {
	return flow.Item{Kind: flow.KindConversion, CV: schemas.Conversion{EventID: id, UserID: user, AnonymousID: anon, TimeMs: ms,
		ConversionType: "purchase", RevenueMicros: 10_000_000, Currency: "EUR"}}
}

func identity(id, anon, user string, ms int64, ack *ackCounter, off int64) flow.Item {
	return flow.Item{Kind: flow.KindIdentity, UserKey: anon, Link: schemas.Link{AnonymousID: anon, UserID: user, EventID: id, TimeMs: ms},
		Ack: flow.Ack{To: ack, Offset: off}, Offset: off}
}

// The README's example in one home: a logged-out click, the login, a
// purchase under the user. The link drops the device's state here and,
// once durable, sends a move-in; the move-in loads the device's stored
// click into the user's journey and credits the purchase again, under a
// higher version. The identity's ack rides on the move, not on the unit.
func TestShardFirstLinkMovesDeviceToUser(t *testing.T) {
	hist := &memHistory{}
	s, out, fwd, st := stitchShard(t, 1, hist)
	acks := &ackCounter{}
	flush(t, s,
		click("tp-anon", "", "a1", t0-2*3600_000),
		identity("id-1", "a1", "u1", t0-3600_000, acks, 7),
		purchase("cv-1", "u1", "", t0),
	)
	got := creditedPaths(out)
	if p := got["cv-1"]; len(p.path) != 0 || p.user != "u1" {
		t.Fatalf("before the move: cv-1 = %+v, want an empty path under u1", p)
	}
	sent := fwd.take()
	if len(sent) != 1 || sent[0].Kind != flow.KindMove || sent[0].Move != (flow.Move{Anon: "a1", From: "a1", To: "u1"}) || sent[0].Key != "u1" {
		t.Fatalf("forwarded %+v, want one move-in a1 → u1", sent)
	}
	if len(acks.done) != 0 {
		t.Fatalf("identity acknowledged before its move was in Kafka: %v", acks.done)
	}
	var links int
	for _, u := range out.units {
		links += len(u.Links)
	}
	if links != 1 || st.LinksIdentity.Load() != 1 {
		t.Fatalf("link rows %d, LinksIdentity %d; want 1 and 1", links, st.LinksIdentity.Load())
	}
	// The sink stored the device's click under its own key.
	hist.stored.Touchpoints["a1"] = []attribution.Touchpoint{{ID: "tp-anon", TimeMs: t0 - 2*3600_000, Channel: "paid_search", Source: "google", Medium: "cpc"}}
	move := flow.Item{Kind: flow.KindMove, UserKey: "u1", Move: sent[0].Move, Ack: flow.Ack{To: acks, Offset: 9}}
	flush(t, s, move)
	got = creditedPaths(out)
	if p := got["cv-1"]; !slices.Equal(p.path, []string{"tp-anon"}) || p.user != "u1" {
		t.Fatalf("after the move: cv-1 = %+v, want path [tp-anon] under u1", p)
	}
	if st.Moves.Load() != 1 {
		t.Fatalf("moves = %d, want 1", st.Moves.Load())
	}
	var linkReattr int64
	for _, u := range out.units {
		linkReattr += u.ReattributedLink
	}
	if linkReattr != 1 {
		t.Fatalf("re-attributed by link = %d, want 1", linkReattr)
	}
	// A later device event is the user's now: processed here under u1.
	flush(t, s, click("tp-anon-2", "", "a1", t0-1800_000))
	got = creditedPaths(out)
	if p := got["cv-1"]; !slices.Equal(p.path, []string{"tp-anon", "tp-anon-2"}) {
		t.Fatalf("after a later device click: cv-1 = %+v, want [tp-anon tp-anon-2]", p)
	}
}

// A device's event at its home, linked to a user whose home is another
// partition, is forwarded there under the user, with its ack.
func TestShardForwardsLinkedDeviceEvents(t *testing.T) {
	const homes = 8
	anon, user := "a1", "u1"
	for i := 0; flow.Home(anon, homes) == flow.Home(user, homes); i++ {
		user = fmt.Sprintf("u%d", i)
	}
	ha := int32(flow.Home(anon, homes))
	s, _, fwd, _ := stitchShard(t, homes, &memHistory{}, schemas.Link{AnonymousID: anon, UserID: user, EventID: "id-1", TimeMs: t0 - 3600_000})
	acks := &ackCounter{}
	it := click("tp-1", "", anon, t0)
	it.Partition, it.Ack, it.Value = ha, flow.Ack{To: acks, Offset: 3}, []byte(`{"event_id":"tp-1"}`)
	flush(t, s, it)
	sent := fwd.take()
	if len(sent) != 1 || sent[0].Key != user || sent[0].Home != flow.Home(user, homes) || sent[0].Kind != flow.KindTouchpoint || string(sent[0].Value) != `{"event_id":"tp-1"}` {
		t.Fatalf("forwarded %+v, want the click to %s's home", sent, user)
	}
	sent[0].Ack.Done()
	if !slices.Equal(acks.done, []int64{3}) {
		t.Fatalf("acks %v, want [3] once the forward is acknowledged", acks.done)
	}
}

// An earlier link to another user relinks the device: a move-out goes to
// the old user's home, which takes the device's click out of the old
// user's journey, credits its purchase again (higher version) and sends
// the move-in on.
func TestShardRelinkMovesDeviceOut(t *testing.T) {
	hist := &memHistory{}
	s, out, fwd, st := stitchShard(t, 1, hist, schemas.Link{AnonymousID: "a1", UserID: "u1", EventID: "id-late", TimeMs: t0 - 600_000})
	acks := &ackCounter{}
	// The device is u1's: its click is processed under u1 (a guest).
	flush(t, s,
		click("tp-u1", "u1", "", t0-3*3600_000),
		click("tp-anon", "", "a1", t0-2*3600_000),
		purchase("cv-u1", "u1", "", t0),
	)
	if p := creditedPaths(out)["cv-u1"]; !slices.Equal(p.path, []string{"tp-u1", "tp-anon"}) {
		t.Fatalf("cv-u1 = %+v, want [tp-u1 tp-anon]", p)
	}
	// The earlier link: a1 was u2's first.
	flush(t, s, identity("id-early", "a1", "u2", t0-5*3600_000, acks, 11))
	sent := fwd.take()
	if len(sent) != 1 || sent[0].Move != (flow.Move{Anon: "a1", From: "u1", To: "u2", Out: true}) || sent[0].Key != "u1" {
		t.Fatalf("forwarded %+v, want a move-out of a1 from u1 to u2", sent)
	}
	if st.LinkConflicts.Load() != 1 {
		t.Fatalf("conflicts = %d, want 1 (u1 became one)", st.LinkConflicts.Load())
	}
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u1", Move: sent[0].Move, Ack: flow.Ack{To: acks, Offset: 12}})
	if p := creditedPaths(out)["cv-u1"]; !slices.Equal(p.path, []string{"tp-u1"}) {
		t.Fatalf("after the move-out: cv-u1 = %+v, want [tp-u1]", p)
	}
	sent = fwd.take()
	if len(sent) != 1 || sent[0].Move != (flow.Move{Anon: "a1", From: "u1", To: "u2"}) || sent[0].Key != "u2" {
		t.Fatalf("forwarded %+v, want the move-in of a1 to u2", sent)
	}
}

// A re-consumed deciding link (after a crash, its move may be lost) sends
// its move again.
func TestShardReissuesMoveOfDecidingLink(t *testing.T) {
	l := schemas.Link{AnonymousID: "a1", UserID: "u1", EventID: "id-1", TimeMs: t0}
	s, out, fwd, _ := stitchShard(t, 1, &memHistory{}, l)
	s.stored[KeyHash("a1")] = StoredEvents // the device's events were stored before the crash
	acks := &ackCounter{}
	flush(t, s, identity("id-1", "a1", "u1", t0, acks, 5))
	sent := fwd.take()
	if len(sent) != 1 || sent[0].Move != (flow.Move{Anon: "a1", From: "a1", To: "u1"}) {
		t.Fatalf("forwarded %+v, want the move-in again", sent)
	}
	// A later link of the same device to the same user changes nothing.
	flush(t, s, identity("id-2", "a1", "u1", t0+1000, acks, 6))
	if sent := fwd.take(); len(sent) != 0 {
		t.Fatalf("forwarded %+v for a later link, want nothing", sent)
	}
	inUnits := unitAcks(out)
	if !slices.Equal(inUnits, []int64{6}) {
		t.Fatalf("acks in units %v, want [6]: the later link's ack rides on its unit, the deciding one's on its move", inUnits)
	}
}

// A device's conversion pending when its device is linked, then relinked
// before it is released, goes back to the device's home (which knows the
// user of the moment), not to the first link's user: found by
// TestStitchedAcrossSIGKILL, where it was credited to the conflict's user.
func TestShardPendingDeviceConversionFollowsLatestLink(t *testing.T) {
	s, out, fwd, _ := stitchShard(t, 1, &memHistory{})
	acks := &ackCounter{}
	cv := purchase("cv-dev", "", "a1", t0)
	cv.Value = []byte(`{"event_id":"cv-dev"}`)
	// Pending: the watermark has not passed it (no flush).
	if err := s.process(context.Background(), []flow.Item{cv, identity("id-late", "a1", "u1", t0-600_000, acks, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.process(context.Background(), []flow.Item{identity("id-early", "a1", "u2", t0-3600_000, acks, 2)}); err != nil {
		t.Fatal(err)
	}
	fwd.take() // the moves
	flush(t, s)
	var back []flow.Forward
	for _, f := range fwd.take() {
		if f.Kind == flow.KindConversion {
			back = append(back, f)
		}
	}
	if len(back) != 1 || back[0].Key != "a1" || string(back[0].Value) != `{"event_id":"cv-dev"}` {
		t.Fatalf("conversions forwarded %+v, want cv-dev back to a1's home under a1", back)
	}
	if p, ok := creditedPaths(out)["cv-dev"]; ok {
		t.Fatalf("cv-dev credited here under %s; it belongs to the device's user of the moment", p.user)
	}
}

// A move-in that arrives after its device moved on (relinked back and
// forth: the newer move-out reached this user first) loads nothing: the
// stored links say the device is another user's now. Found by
// TestStitchedAcrossSIGKILL (u1 → u2 → u1, the device's click left in u2).
func TestShardStaleMoveInLoadsNothing(t *testing.T) {
	hist := &memHistory{linked: map[string]string{"a1": "u1"}}
	s, out, _, st := stitchShard(t, 1, hist)
	flush(t, s, click("tp-u2", "u2", "", t0-3600_000), purchase("cv-u2", "u2", "", t0))
	hist.stored.Touchpoints["a1"] = []attribution.Touchpoint{{ID: "tp-anon", TimeMs: t0 - 2*3600_000, Channel: "affiliate"}}
	acks := &ackCounter{}
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u2", Move: flow.Move{Anon: "a1", From: "u1", To: "u2"}, Ack: flow.Ack{To: acks, Offset: 4}})
	if p := creditedPaths(out)["cv-u2"]; !slices.Equal(p.path, []string{"tp-u2"}) {
		t.Fatalf("cv-u2 = %+v after a stale move-in, want [tp-u2]", p)
	}
	if st.Moves.Load() != 0 {
		t.Fatalf("moves = %d, want 0: the move-in was stale", st.Moves.Load())
	}
	// The same move-in, current, loads the device.
	hist.linked["a1"] = "u2"
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u2", Move: flow.Move{Anon: "a1", From: "u1", To: "u2"}, Ack: flow.Ack{To: acks, Offset: 5}})
	if p := creditedPaths(out)["cv-u2"]; !slices.Equal(p.path, []string{"tp-anon", "tp-u2"}) {
		t.Fatalf("cv-u2 = %+v after a current move-in, want [tp-anon tp-u2]", p)
	}
}

// A device's first link when the device has no event yet (a logged-in
// first visit) moves nothing: no move record, the link's ack rides on its
// unit. Most devices are linked so; a move each cost a history load.
func TestShardFirstLinkOfDeviceWithoutEventsMovesNothing(t *testing.T) {
	s, out, fwd, st := stitchShard(t, 1, &memHistory{})
	acks := &ackCounter{}
	flush(t, s, identity("id-1", "a1", "u1", t0, acks, 3))
	if sent := fwd.take(); len(sent) != 0 {
		t.Fatalf("forwarded %+v, want nothing: the device has no event", sent)
	}
	inUnits := unitAcks(out)
	if !slices.Equal(inUnits, []int64{3}) || st.LinksIdentity.Load() != 1 {
		t.Fatalf("acks in units %v, links %d; want [3] and 1", inUnits, st.LinksIdentity.Load())
	}
	// The device's next event is the user's.
	flush(t, s, click("tp-1", "", "a1", t0+1000), purchase("cv-1", "u1", "", t0+2000))
	if p := creditedPaths(out)["cv-1"]; !slices.Equal(p.path, []string{"tp-1"}) {
		t.Fatalf("cv-1 = %+v, want [tp-1]", p)
	}
}

// An identity event older than its home's watermark by more than the
// horizon is stored (too_late), dead-lettered too_late on the identities
// topic, counted, and never applied: the device's events stay its own.
func TestShardTooLateLinkIsStoredNotApplied(t *testing.T) {
	s, out, fwd, st := stitchShard(t, 1, &memHistory{})
	acks := &ackCounter{}
	wm := t0 + 10*24*3600_000 // ten days on: beyond the 7-day horizon
	flush(t, s,
		flow.Item{Kind: flow.KindMark, Partition: 0, Src: 0, WM: wm},
		click("tp-anon", "", "a1", wm-3600_000),
		identity("id-old", "a1", "u1", t0, acks, 8),
		purchase("cv-dev", "", "a1", wm),
	)
	if st.LinksTooLate.Load() != 1 || st.LinksIdentity.Load() != 0 {
		t.Fatalf("too late %d, links %d; want 1 and 0", st.LinksTooLate.Load(), st.LinksIdentity.Load())
	}
	var rows []flow.IdentityRow
	var dead []flow.DeadLetter
	for _, u := range out.units {
		rows = append(rows, u.IDs...)
		dead = append(dead, u.Dead...)
		if len(u.Links) != 0 {
			t.Fatalf("link rows %+v for a too-late link", u.Links)
		}
	}
	if len(rows) != 1 || !rows[0].TooLate || len(dead) != 1 || dead[0].Reason != flow.ReasonTooLate || dead[0].Msg.Topic != "identities" {
		t.Fatalf("identity rows %+v, dead letters %+v; want one too_late row and one too_late dead letter on identities", rows, dead)
	}
	if sent := fwd.take(); len(sent) != 0 {
		t.Fatalf("forwarded %+v, want nothing", sent)
	}
	if p := creditedPaths(out)["cv-dev"]; p.user != "a1" || !slices.Equal(p.path, []string{"tp-anon"}) {
		t.Fatalf("cv-dev = %+v, want credited under the device a1 with its click", p)
	}
}
