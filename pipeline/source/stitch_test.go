package source

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// A fetcher wired to fakes: shards are buffered channels, the sink a
// recorder of direct units, the repartition topic a recorder of the
// records queued (their acks fire only when the test completes them, as
// Kafka's answer would).
type stitchRig struct {
	src     *Source
	rt      *Routing
	shards  []chan []flow.Item
	made    []*Fetcher // every fetcher made: items hands their batches over first
	direct  []*flow.Unit
	records []kafka.Message
	tracker *ackTracker
	mu      sync.Mutex
}

const (
	rigTP, rigCV, rigIDs, rigRepart = "tp", "cv", "ids", "repart"
	rigHomes                        = 4
)

// ackTracker records the offsets added and acknowledged.
type ackTracker struct {
	mu    sync.Mutex
	added []int64
	done  []int64
}

func (a *ackTracker) Add(o int64) { a.mu.Lock(); a.added = append(a.added, o); a.mu.Unlock() }
func (a *ackTracker) Done(o int64) {
	a.mu.Lock()
	a.done = append(a.done, o)
	a.mu.Unlock()
}
func (a *ackTracker) acked() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int64(nil), a.done...)
}

// newStitchRig owns the homes in owned; stitching says whether the
// identities topic exists.
func newStitchRig(t testing.TB, stitching bool, owned ...int) *stitchRig {
	t.Helper()
	r := &stitchRig{tracker: &ackTracker{}}
	st := &flow.Stats{}
	r.src = &Source{Cfg: Config{TouchpointsTopic: rigTP, ConversionsTopic: rigCV, SpendTopic: "spend", IdentitiesTopic: rigIDs, RepartitionTopic: rigRepart,
		MaxMessageBytes: 1 << 20, MaxFutureSkew: time.Hour, Logger: slog.New(slog.DiscardHandler)},
		Dec: schemas.NewDecoder(nil), Stats: st, Stitching: stitching, Homes: rigHomes}
	fwd := &Forwarder{slots: make(chan struct{}, 16), st: st, failed: func(err error) { t.Errorf("forwarder failed: %v", err) }, tpTopic: rigTP, cvTopic: rigCV}
	fwd.write = func(_ context.Context, msgs ...kafka.Message) error {
		r.mu.Lock()
		r.records = append(r.records, msgs...)
		r.mu.Unlock()
		return nil
	}
	r.rt = &Routing{Topic: rigRepart, Homes: rigHomes, Owned: map[int]bool{}, Fwd: fwd}
	for _, h := range owned {
		r.rt.Owned[h] = true
	}
	r.shards = make([]chan []flow.Item, 3)
	for i := range r.shards {
		r.shards[i] = make(chan []flow.Item, 16)
	}
	return r
}

func (r *stitchRig) fetcher(topic string, partition int) *Fetcher {
	out := make([]chan<- []flow.Item, len(r.shards))
	for i, s := range r.shards {
		out[i] = s
	}
	direct := DirectFunc(func(_ context.Context, u *flow.Unit) bool {
		r.mu.Lock()
		r.direct = append(r.direct, u)
		r.mu.Unlock()
		return true
	})
	f := r.src.NewFetcher(topic, partition, 0, -1, r.tracker, out, direct, r.rt)
	r.made = append(r.made, f)
	return f
}

// consume routes one message of topic/partition at offset through the
// fetcher, as Run does.
func (r *stitchRig) consume(t *testing.T, topic string, partition int, offset int64, value string) {
	t.Helper()
	f := r.fetcher(topic, partition)
	m := kafka.Message{Topic: topic, Partition: partition, Offset: offset, Value: []byte(value), Time: time.Now()}
	f.tracker.Add(m.Offset)
	var ok bool
	if topic == rigRepart {
		ok = f.fromRepartition(context.Background(), &m)
	} else {
		ok = f.route(context.Background(), &m, topic == rigTP, time.Now())
	}
	if !ok {
		t.Fatalf("routing %s/%d@%d returned false", topic, partition, offset)
	}
}

// items drains what the shards received, with the shard index.
func (r *stitchRig) items() (out []flow.Item, shard []int) {
	for _, f := range r.made {
		f.handOver(context.Background())
	}
	for i, s := range r.shards {
		for len(s) > 0 {
			for _, it := range <-s {
				out = append(out, it)
				shard = append(shard, i)
			}
		}
	}
	return out, shard
}

// complete answers the queued records as Kafka would (err nil: written).
func (r *stitchRig) complete(msgs ...kafka.Message) {
	r.rt.Fwd.completion(msgs, nil)
}

func shardOf(key string, n int) int { return int(murmur3.StringSum32(key) % uint32(n)) }

// keyWithHome returns the first of prefix0, prefix1, ... whose home is h.
func keyWithHome(prefix string, h int) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if flow.Home(k, rigHomes) == h {
			return k
		}
	}
}

func identityJSON(id, anon, user, ts string) string {
	return fmt.Sprintf(`{"event_id":%q,"anonymous_id":%q,"user_id":%q,"timestamp":%q}`, id, anon, user, ts)
}

func touchpointJSON(id, user, anon string) string {
	return fmt.Sprintf(`{"event_id":%q,"user_id":%q,"anonymous_id":%q,"timestamp":"2026-11-27T09:00:00Z","channel":"paid_search","interaction":"click"}`, id, user, anon)
}

func header1(m *kafka.Message, k string) string { return string(header(m, k)) }

// An identity event consumed at its anonymous_id's home, on the member
// owning it, goes straight to the shard of the anonymous_id as a
// KindIdentity item carrying its link; consumed anywhere else, it is
// forwarded to that home (the original bytes, kind identity, keyed by the
// anonymous_id), acknowledged only once Kafka took the copy, and decoded
// again by the home's repartition fetcher into the same item.
func TestIdentityEventRoutedToItsAnonymousHome(t *testing.T) {
	anon := keyWithHome("anon-", 1)
	value := identityJSON("id-1", anon, "u1", "2026-11-27T09:20:00Z")
	wantLink := schemas.Link{AnonymousID: anon, UserID: "u1", EventID: "id-1", TimeMs: time.Date(2026, 11, 27, 9, 20, 0, 0, time.UTC).UnixMilli()}

	// Direct: partition 1 is the home, and owned.
	r := newStitchRig(t, true, 1)
	r.consume(t, rigIDs, 1, 5, value)
	items, shards := r.items()
	if len(items) != 1 || len(r.records) != 0 {
		t.Fatalf("direct identity: %d items, %d forwarded records; want 1 item", len(items), len(r.records))
	}
	it := items[0]
	if it.Kind != flow.KindIdentity || it.Link != wantLink || it.UserKey != anon || it.Partition != 1 || it.Origin != 1 || it.Offset != 5 || string(it.Value) != value {
		t.Errorf("direct identity item %+v; want KindIdentity, link %+v, user key %q, home 1, origin 1, offset 5, the original value", it, wantLink, anon)
	}
	if shards[0] != shardOf(anon, len(r.shards)) {
		t.Errorf("identity went to shard %d, the shard of its anonymous_id is %d", shards[0], shardOf(anon, len(r.shards)))
	}
	if r.src.Stats.Identities.Load() != 1 {
		t.Errorf("identities counted %d, want 1", r.src.Stats.Identities.Load())
	}

	// Forwarded: consumed from partition 3 (and home 1 not owned).
	r = newStitchRig(t, true, 3)
	r.consume(t, rigIDs, 3, 8, value)
	if items, _ := r.items(); len(items) != 0 || len(r.records) != 1 {
		t.Fatalf("identity away from home: %d items, %d records; want 1 record", len(items), len(r.records))
	}
	rec := r.records[0]
	d := rec.WriterData.(*fwdData)
	if d.home != 1 || header1(&rec, HeaderKind) != kindIdentity || header1(&rec, HeaderKey) != anon || string(rec.Key) != anon || string(rec.Value) != value ||
		header1(&rec, HeaderOriginTopic) != rigIDs || header1(&rec, HeaderOriginPartition) != "3" || header1(&rec, HeaderOriginOffset) != "8" {
		t.Errorf("forwarded identity record: home %d, key %q, value %q, headers %v", d.home, rec.Key, rec.Value, rec.Headers)
	}
	if got := r.tracker.acked(); len(got) != 0 {
		t.Fatalf("acknowledged %v before Kafka took the copy", got)
	}
	r.complete(rec)
	if got := r.tracker.acked(); len(got) != 1 || got[0] != 8 {
		t.Errorf("after Kafka took the copy: acknowledged %v, want [8]", got)
	}
	if r.src.Stats.FwdLinks.Load() != 1 {
		t.Errorf("forwarded links counted %d, want 1", r.src.Stats.FwdLinks.Load())
	}

	// At home, the repartition fetcher makes the same item of it.
	h := newStitchRig(t, true, 1)
	hf := h.fetcher(rigRepart, 1)
	rec.Topic, rec.Partition, rec.Offset = rigRepart, 1, 70
	if !hf.fromRepartition(context.Background(), &rec) {
		t.Fatal("fromRepartition returned false")
	}
	items, shards = h.items()
	if len(items) != 1 {
		t.Fatalf("home: %d items, want 1", len(items))
	}
	it = items[0]
	if it.Kind != flow.KindIdentity || it.Link != wantLink || it.UserKey != anon || it.Partition != 1 || it.Origin != 3 || it.Offset != 8 || shards[0] != shardOf(anon, len(h.shards)) {
		t.Errorf("identity at home: %+v on shard %d", it, shards[0])
	}
	it.Ack.Done()
	if got := h.tracker.acked(); len(got) != 1 || got[0] != 70 {
		t.Errorf("the item acknowledges %v, want the repartition offset 70", got)
	}
}

// An invalid identity event, or one stamped in the future, is
// dead-lettered with its reason, as the other topics' events.
func TestBadIdentityEventsAreDeadLettered(t *testing.T) {
	future := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name, value, reason, err string
	}{
		{"no user", `{"event_id":"id-1","anonymous_id":"a","timestamp":"2026-11-27T09:20:00Z"}`, flow.ReasonInvalid, "user_id"},
		{"not json", `{"event_id":`, flow.ReasonInvalid, ""},
		{"future", identityJSON("id-2", "a", "u", future), flow.ReasonFuture, "max_future_skew"},
	} {
		r := newStitchRig(t, true, 0, 1, 2, 3)
		r.consume(t, rigIDs, 0, 4, c.value)
		if items, _ := r.items(); len(items) != 0 || len(r.records) != 0 || len(r.direct) != 1 {
			t.Fatalf("%s: %d items, %d records, %d direct units; want one dead letter", c.name, len(items), len(r.records), len(r.direct))
		}
		u := r.direct[0]
		if len(u.Dead) != 1 || u.Dead[0].Reason != c.reason || !strings.Contains(u.Dead[0].Err, c.err) || u.Dead[0].Msg.Topic != rigIDs || u.Dead[0].Msg.Offset != 4 {
			t.Errorf("%s: dead letters %+v; want reason %s naming %q", c.name, u.Dead, c.reason, c.err)
		}
		if r.src.Stats.Identities.Load() != 0 {
			t.Errorf("%s: counted as a valid identity event", c.name)
		}
	}
}

// A touchpoint carrying both ids goes under its user_id as before, and its
// link to its anonymous_id's home; its offset is acknowledged only once
// both are durable, whichever comes first, whether each part is direct or
// forwarded. Without stitching, no link is sent.
func TestLinkCopyOfEventWithBothIDs(t *testing.T) {
	user := keyWithHome("user-", 0)
	anon := keyWithHome("dev-", 2)
	value := touchpointJSON("tp-1", user, anon)

	t.Run("both direct", func(t *testing.T) {
		r := newStitchRig(t, true, 0, 2)
		// Consumed from partition 0 (the user's home): the event is
		// direct; the link's home 2 is not this partition: forwarded.
		r.consume(t, rigTP, 0, 11, value)
		items, shards := r.items()
		if len(items) != 1 || len(r.records) != 1 {
			t.Fatalf("%d items, %d records; want the event direct and the link forwarded", len(items), len(r.records))
		}
		ev := items[0]
		if ev.Kind != flow.KindTouchpoint || ev.TP.UserID != user || shards[0] != shardOf(user, len(r.shards)) {
			t.Errorf("event item %+v on shard %d", ev, shards[0])
		}
		rec := r.records[0]
		d := rec.WriterData.(*fwdData)
		if d.home != 2 || d.kind != flow.KindLink || header1(&rec, HeaderKind) != kindLink || header1(&rec, HeaderKey) != anon || header1(&rec, HeaderOriginTopic) != rigTP {
			t.Errorf("link record: home %d kind %d headers %v", d.home, d.kind, rec.Headers)
		}
		ev.Ack.Done()
		if got := r.tracker.acked(); len(got) != 0 {
			t.Fatalf("acknowledged %v with only the event durable", got)
		}
		r.complete(rec)
		if got := r.tracker.acked(); len(got) != 1 || got[0] != 11 {
			t.Errorf("after both parts: acknowledged %v, want [11] once", got)
		}
		if r.src.Stats.FwdLinks.Load() != 1 || r.src.Stats.FwdTouchpoints.Load() != 0 {
			t.Errorf("forwarded: %d links, %d touchpoints; want 1, 0", r.src.Stats.FwdLinks.Load(), r.src.Stats.FwdTouchpoints.Load())
		}
	})

	t.Run("link direct, event forwarded", func(t *testing.T) {
		r := newStitchRig(t, true, 2)
		r.consume(t, rigTP, 2, 12, value)
		items, shards := r.items()
		if len(items) != 1 || len(r.records) != 1 {
			t.Fatalf("%d items, %d records; want the link direct and the event forwarded", len(items), len(r.records))
		}
		l := items[0]
		want := schemas.Link{AnonymousID: anon, UserID: user, EventID: "tp-1", TimeMs: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixMilli()}
		if l.Kind != flow.KindLink || l.Link != want || l.UserKey != anon || l.Partition != 2 || shards[0] != shardOf(anon, len(r.shards)) {
			t.Errorf("link item %+v on shard %d; want link %+v under %q at home 2", l, shards[0], want, anon)
		}
		rec := r.records[0]
		if d := rec.WriterData.(*fwdData); d.home != 0 || d.kind != flow.KindTouchpoint || header1(&rec, HeaderKey) != user {
			t.Errorf("event record: home %d kind %d key %q", d.home, d.kind, header1(&rec, HeaderKey))
		}
		r.complete(rec)
		if got := r.tracker.acked(); len(got) != 0 {
			t.Fatalf("acknowledged %v with only the event's copy durable", got)
		}
		l.Ack.Done()
		if got := r.tracker.acked(); len(got) != 1 || got[0] != 12 {
			t.Errorf("after both parts: acknowledged %v, want [12] once", got)
		}
	})

	t.Run("both forwarded", func(t *testing.T) {
		r := newStitchRig(t, true)
		r.consume(t, rigTP, 1, 13, value)
		if items, _ := r.items(); len(items) != 0 || len(r.records) != 2 {
			t.Fatalf("%d items, %d records; want two records", len(items), len(r.records))
		}
		r.complete(r.records[0])
		if got := r.tracker.acked(); len(got) != 0 {
			t.Fatalf("acknowledged %v after one of two copies", got)
		}
		r.complete(r.records[1])
		if got := r.tracker.acked(); len(got) != 1 || got[0] != 13 {
			t.Errorf("after both copies: acknowledged %v, want [13]", got)
		}
		if r.src.Stats.FwdLinks.Load() != 1 || r.src.Stats.FwdTouchpoints.Load() != 1 {
			t.Errorf("forwarded: %d links, %d touchpoints; want 1 each", r.src.Stats.FwdLinks.Load(), r.src.Stats.FwdTouchpoints.Load())
		}
	})

	t.Run("no stitching", func(t *testing.T) {
		r := newStitchRig(t, false, 0, 2)
		r.consume(t, rigTP, 0, 14, value)
		items, _ := r.items()
		if len(items) != 1 || len(r.records) != 0 {
			t.Fatalf("%d items, %d records; want only the event", len(items), len(r.records))
		}
		items[0].Ack.Done()
		if got := r.tracker.acked(); len(got) != 1 || got[0] != 14 {
			t.Errorf("acknowledged %v, want [14] from the event alone", got)
		}
	})

	t.Run("conversion", func(t *testing.T) {
		r := newStitchRig(t, true, 0, 2)
		cv := fmt.Sprintf(`{"event_id":"cv-1","user_id":%q,"anonymous_id":%q,"timestamp":"2026-11-27T10:00:00Z","conversion_type":"purchase","revenue":10.5,"currency":"EUR"}`, user, anon)
		r.consume(t, rigCV, 0, 15, cv)
		items, _ := r.items()
		if len(items) != 1 || items[0].Kind != flow.KindConversion || len(r.records) != 1 || header1(&r.records[0], HeaderKind) != kindLink || header1(&r.records[0], HeaderOriginTopic) != rigCV {
			t.Fatalf("conversion with both ids: %d items, %d records", len(items), len(r.records))
		}
	})
	t.Run("one id", func(t *testing.T) {
		r := newStitchRig(t, true, 0, 1, 2, 3)
		r.consume(t, rigTP, 2, 16, touchpointJSON("tp-2", "", anon))
		items, _ := r.items()
		if len(items) != 1 || items[0].Kind != flow.KindTouchpoint || len(r.records) != 0 {
			t.Fatalf("device touchpoint: %d items, %d records; want the event only", len(items), len(r.records))
		}
	})
}

// The home's repartition fetcher reads a link record into a KindLink item
// and a shard's forwards (an event to its user's home, a move) into items
// processed under the record's key; a record it cannot read is
// dead-lettered as invalid.
func TestRepartitionReadsShardForwards(t *testing.T) {
	r := newStitchRig(t, true)
	var acked []string
	ack := func(name string) flow.Ack {
		return flow.Ack{To: ackFunc(func(int64) { acked = append(acked, name) })}
	}
	user := keyWithHome("user-", 3)
	mv := flow.Move{Anon: "dev-7", From: "dev-7", To: user, Out: true}
	tp := touchpointJSON("tp-9", "", "dev-7")
	for _, fw := range []flow.Forward{
		{Home: 3, Key: user, Kind: flow.KindTouchpoint, Value: []byte(tp), Origin: 2, Offset: 41, Ack: ack("touchpoint")},
		{Home: 3, Key: "dev-7", Kind: flow.KindMove, Move: mv, Ack: ack("move")},
	} {
		if !r.rt.Fwd.Forward(context.Background(), &fw) {
			t.Fatal("Forward returned false")
		}
	}
	if len(r.records) != 2 || len(acked) != 0 {
		t.Fatalf("%d records queued, %v acknowledged before Kafka answered", len(r.records), acked)
	}
	r.complete(r.records...)
	if len(acked) != 2 {
		t.Errorf("acknowledged %v after Kafka took both, want both", acked)
	}
	if r.src.Stats.FwdTouchpoints.Load() != 1 {
		t.Errorf("forwarded touchpoints %d, want 1", r.src.Stats.FwdTouchpoints.Load())
	}
	for i := range r.records {
		if d := r.records[i].WriterData.(*fwdData); d.home != 3 {
			t.Errorf("record %d to home %d, want 3", i, d.home)
		}
	}

	h := newStitchRig(t, true, 3)
	hf := h.fetcher(rigRepart, 3)
	recs := append([]kafka.Message(nil), r.records...)
	link := eventRecord(flow.KindLink, "dev-7", []byte(`{"anonymous_id":"dev-7","user_id":"u5","event_id":"cv-3","ts_ms":1700}`), rigCV, 1, 99)
	bad := eventRecord(flow.KindLink, "dev-8", []byte(`{"anonymous_id":"dev-8"}`), rigCV, 0, 5)
	recs = append(recs, link, bad)
	for i := range recs {
		recs[i].Topic, recs[i].Partition, recs[i].Offset = rigRepart, 3, int64(100+i)
		if !hf.fromRepartition(context.Background(), &recs[i]) {
			t.Fatal("fromRepartition returned false")
		}
	}
	items, shards := h.items()
	if len(items) != 3 {
		t.Fatalf("%d items at home, want 3", len(items))
	}
	byKind := map[flow.ItemKind]int{}
	for i, it := range items {
		byKind[it.Kind] = i
	}
	ev := items[byKind[flow.KindTouchpoint]]
	if ev.UserKey != user || ev.TP.AnonymousID != "dev-7" || ev.Origin != 2 || ev.Offset != 41 || shards[byKind[flow.KindTouchpoint]] != shardOf(user, len(h.shards)) {
		t.Errorf("forwarded device touchpoint at its user's home: %+v on shard %d; want user key %q, origin 2@41, the user's shard", ev, shards[byKind[flow.KindTouchpoint]], user)
	}
	m := items[byKind[flow.KindMove]]
	if m.Move != mv || m.UserKey != "dev-7" || m.Partition != 3 || shards[byKind[flow.KindMove]] != shardOf("dev-7", len(h.shards)) {
		t.Errorf("move at home: %+v; want %+v under dev-7", m, mv)
	}
	l := items[byKind[flow.KindLink]]
	if want := (schemas.Link{AnonymousID: "dev-7", UserID: "u5", EventID: "cv-3", TimeMs: 1700}); l.Link != want || l.UserKey != "dev-7" || l.Origin != 1 || l.Offset != 99 {
		t.Errorf("link at home: %+v; want %+v", l, want)
	}
	if len(h.direct) != 1 || len(h.direct[0].Dead) != 1 || h.direct[0].Dead[0].Reason != flow.ReasonInvalid || !strings.Contains(h.direct[0].Dead[0].Err, "link record") ||
		h.direct[0].Dead[0].Msg.Topic != rigCV || h.direct[0].Dead[0].Msg.Offset != 5 {
		t.Errorf("unreadable link record: direct units %+v; want one invalid dead letter naming its origin", h.direct)
	}
}

type ackFunc func(int64)

func (f ackFunc) Done(o int64) { f(o) }

// The identities topic's partitions are inputs whose final marks a
// --until-caught-up repartition fetcher waits for, when stitching; its
// fetchers route and mark like the conversions topic's.
func TestIdentitiesPartitionsAreInputsWhenStitching(t *testing.T) {
	for _, stitching := range []bool{false, true} {
		r := newStitchRig(t, stitching)
		r.src.Parts = map[string]int{rigTP: 4, rigCV: 3, rigIDs: 2, rigRepart: rigHomes}
		in := r.src.Inputs()
		want := map[string]int{rigTP: 4, rigCV: 3}
		if stitching {
			want[rigIDs] = 2
		}
		if fmt.Sprint(in) != fmt.Sprint(want) {
			t.Errorf("stitching %v: inputs %v, want %v", stitching, in, want)
		}
		if got := r.fetcher(rigIDs, 0).forwards(); got != stitching {
			t.Errorf("stitching %v: the identities fetcher forwards (and marks): %v", stitching, got)
		}
	}
}

// A logged-in device repeats its link on every event: only copies that
// could change its home's table are sent (the first, an earlier one, one
// to another user).
func TestLinkCopiesOfARepeatedLinkAreSentOnce(t *testing.T) {
	f := &Fetcher{src: &Source{Stitching: true}}
	tp := func(user string, ms int64) *flow.Item {
		return &flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: fmt.Sprint(user, ms), UserID: user, AnonymousID: "a1", TimeMs: ms}}
	}
	var sent []string
	for _, it := range []*flow.Item{tp("u1", 10), tp("u1", 20), tp("u1", 30), tp("u1", 5), tp("u1", 7), tp("u2", 40), tp("u2", 50), tp("u1", 60)} {
		if l, ok := f.linkCopy(it); ok {
			sent = append(sent, fmt.Sprint(l.UserID, "@", l.TimeMs))
		}
	}
	if want := []string{"u1@10", "u1@5", "u2@40", "u1@60"}; !slices.Equal(sent, want) {
		t.Fatalf("copies sent %v, want %v", sent, want)
	}
}

// The devices a fetcher remembers are copies: the ids of a live event are
// views of its one block of strings (schemas.Decoder.OneBlock), which a
// remembered view would keep whole for as long as the device is.
func TestLinkCopiesRememberCopiesOfTheIds(t *testing.T) {
	f := &Fetcher{src: &Source{Stitching: true}}
	for _, user := range []string{"u1", "u1", "u2"} { // new, same user again, another user
		block := []byte("a1" + user)
		anon, uid := unsafe.String(&block[0], 2), unsafe.String(&block[2], len(user))
		f.linkCopy(&flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: "e", UserID: uid, AnonymousID: anon, TimeMs: 1}})
		for k, s := range f.sentLinks {
			for _, str := range []string{k, s.user} {
				if p := uintptr(unsafe.Pointer(unsafe.StringData(str))); p >= uintptr(unsafe.Pointer(&block[0])) && p < uintptr(unsafe.Pointer(&block[0]))+uintptr(len(block)) {
					t.Errorf("link to %s: remembered %q is a view of the event's block", user, str)
				}
			}
		}
	}
	if s := f.sentLinks["a1"]; s.user != "u2" {
		t.Errorf("remembered %+v for a1, want u2", s)
	}
}
