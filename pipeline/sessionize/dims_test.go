package sessionize

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// A stream of ever new campaigns, each from a new user, under a small
// --max-users: the sweep evicts the users and the dimension table drops
// their tuples, so it stays near the held users' share instead of growing
// by one tuple per campaign ever seen. The users still held keep their own
// campaign (the renumbering kept every held touchpoint's tuple).
func TestDimensionTableBoundedUnderEviction(t *testing.T) {
	const maxUsers, campaigns = 200, 50_000
	cfg := Config{MaxUsers: maxUsers}.WithDefaults()
	st := &flow.Stats{}
	snk := &recordingOutput{}
	s := newTestShard(t, &cfg, snk, nil, st)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	peak := 0
	for i := range campaigns {
		it := flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{
			EventID: fmt.Sprintf("tp-%d", i), UserID: fmt.Sprintf("u%d", i), TimeMs: t0 + int64(i),
			Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc",
			Campaign: fmt.Sprintf("campaign-%d", i),
		}}
		s.touchpoint(&it, it.TP.Key())
		s.u = &flow.Unit{} // what the sink would take
		if i%1000 == 999 {
			snk.acked.Store(s.seq + 1) // every row durable: the users may be evicted
			s.sweep()
			peak = max(peak, s.dims.len())
		}
	}
	if s.users.len() > maxUsers {
		t.Fatalf("%d users held after a sweep, want at most %d", s.users.len(), maxUsers)
	}
	// Bound: the tuples of the held users, doubled before a compaction is
	// due, never below minDimCompact, plus what comes in between sweeps.
	if limit := minDimCompact + 1000; peak > limit {
		t.Errorf("dimension table peaked at %d tuples for %d users held, want at most %d (%d distinct campaigns seen)", peak, s.users.len(), limit, campaigns)
	}
	if len(s.dims.index) != s.dims.len() {
		t.Errorf("dimension index holds %d entries for %d tuples", len(s.dims.index), s.dims.len())
	}
	held := 0
	for _, u := range s.users.all() {
		for i := 0; i < u.journey.len(); i++ {
			held++
			d := s.dims.get(le.Uint32(u.journey.rec(i)[recDim:]) & dimMask)
			if want := "campaign-" + string(u.journey.key())[1:]; d.campaign != want || d.channel != "paid_search" || d.impression {
				t.Fatalf("user %s: touchpoint reads back campaign %q channel %q after compaction, want %q paid_search", u.journey.key(), d.campaign, d.channel, want)
			}
		}
	}
	if held == 0 {
		t.Fatal("no touchpoint held: the test checks nothing")
	}
	t.Logf("%d campaigns seen, %d users and %d touchpoints held, dimension table at %d tuples (peak %d)", campaigns, s.users.len(), held, s.dims.len(), peak)
}

// BenchmarkShardManyCampaigns feeds one shard 1M touchpoints, each of a
// new user and a new campaign, under --max-users 1000, sweeping every 10k
// touchpoints with every row durable (as the 5 s sweep of a busy shard
// would), and reports the live heap the shard then holds and the tuples
// in its dimension table: what a stream of ever new campaigns costs.
func BenchmarkShardManyCampaigns(b *testing.B) {
	const campaigns = 1_000_000
	cfg := Config{MaxUsers: 1000}.WithDefaults()
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	var heap, tuples float64
	for b.Loop() {
		st := &flow.Stats{}
		snk := &recordingOutput{}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newTestShard(b, &cfg, snk, nil, st)
		for i := range campaigns {
			it := flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{
				EventID: fmt.Sprintf("tp-%d", i), UserID: fmt.Sprintf("u%d", i), TimeMs: t0 + int64(i),
				Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc",
				Campaign: fmt.Sprintf("black_friday_2026_variant_%d", i),
			}}
			s.touchpoint(&it, it.TP.Key())
			s.u = &flow.Unit{}
			if i%10_000 == 9_999 {
				snk.acked.Store(s.seq + 1)
				s.sweep()
			}
		}
		// The eviction marks (a key hash per evicted user, 1M here) are
		// not what this measures.
		s.stored, s.start.Stored = nil, nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
		tuples = float64(s.dims.len())
		runtime.KeepAlive(s)
	}
	b.ReportMetric(heap/(1<<20), "MiB-held")
	b.ReportMetric(tuples, "dim-tuples")
	b.ReportMetric(0, "ns/op")
}

// A long journey (bigJourneyAt touchpoints or more) with ids that are not
// UUIDs flags its records dimText; compacting the dimension table must
// renumber their tuples and keep the flag. Before, the flag was taken for
// part of the index: the compaction indexed far out of range and crashed
// the shard (a heavy user with text ids among ever new campaigns).
func TestDimensionCompactionKeepsLongJourneysTextIDs(t *testing.T) {
	cfg := Config{}.WithDefaults()
	s := newTestShard(t, &cfg, &recordingOutput{}, nil, &flow.Stats{})
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	n := bigJourneyAt + 10
	for i := range n {
		it := flow.Item{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{
			EventID: fmt.Sprintf("tp-%d", i), UserID: "heavy", TimeMs: t0 + int64(i),
			Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc",
			Campaign: fmt.Sprintf("campaign-%d", i),
		}}
		s.touchpoint(&it, it.TP.Key())
	}
	// Tuples no held touchpoint uses, so that the compaction renumbers.
	for i := range minDimCompact {
		s.dims.intern(&attribution.Touchpoint{Channel: "display", Campaign: fmt.Sprintf("gone-%d", i)})
	}
	u := s.users.get("heavy")
	if u == nil || u.journey.big == nil {
		t.Fatal("the journey is not long (no bigJourney): the test sets nothing up")
	}
	s.compactDims()
	if s.dims.len() != n {
		t.Errorf("dimension table holds %d tuples after compaction, want the journey's %d", s.dims.len(), n)
	}
	for i := range n {
		d := s.dims.get(le.Uint32(u.journey.rec(i)[recDim:]) & dimMask)
		if want := fmt.Sprintf("campaign-%d", i); d.campaign != want || u.journey.id(i) != fmt.Sprintf("tp-%d", i) {
			t.Fatalf("touchpoint %d reads back id %q campaign %q, want tp-%d %s", i, u.journey.id(i), d.campaign, i, want)
		}
	}
}

// Tuples that differ only in where one field ends and the next begins, or
// in the interaction, are distinct tuples; the same tuple is one, and it
// comes back field for field.
func TestDimensionTableTuples(t *testing.T) {
	tuples := []attribution.Touchpoint{
		{Channel: "ab", Source: "c"},
		{Channel: "a", Source: "bc"},
		{Source: "abc"},
		{Medium: "abc"},
		{Campaign: "abc"},
		{Campaign: "abc", Impression: true},
		{Channel: "paid_search", Source: "google", Medium: "cpc", Campaign: "brand"},
		{Channel: "paid_search", Source: "google", Medium: "cpc", Campaign: "brand", Impression: true},
		{Channel: "x\x00y", Source: "\x00", Medium: "ü", Campaign: ""},
		{},
	}
	d := newDimTable()
	for round := range 2 {
		for i := range tuples {
			tp := &tuples[i]
			if got := d.intern(tp); got != uint32(i) {
				t.Fatalf("round %d: intern(%+v) = %d, want %d", round, *tp, got, i)
			}
			v := d.get(uint32(i))
			if v.channel != tp.Channel || v.source != tp.Source || v.medium != tp.Medium || v.campaign != tp.Campaign || v.impression != tp.Impression {
				t.Errorf("get(%d) = %+v, want the fields of %+v", i, *v, *tp)
			}
		}
	}
	if d.len() != len(tuples) || len(d.index) != len(tuples) {
		t.Errorf("table holds %d tuples, index %d; want %d", d.len(), len(d.index), len(tuples))
	}
}
