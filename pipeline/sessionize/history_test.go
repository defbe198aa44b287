package sessionize

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// A conversion of a user the store already holds is attributed over the
// stored touchpoint (read through History, loaded once) and the one in
// memory, and the shard's output carries it: no service involved.
func TestShardAttributesOverInMemoryHistory(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()
	s, hist, out, st := storedUserShard(t, attribution.Touchpoint{ID: "tp-stored", TimeMs: t0 - 3_600_000, Channel: "email", Source: "newsletter", Medium: "email"})
	reply := make(chan struct{})
	batch := []flow.Item{
		{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: "tp-live", UserID: "u1", TimeMs: t0 - 60_000,
			Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc"}},
		{Kind: flow.KindConversion, CV: schemas.Conversion{EventID: "cv-1", UserID: "u1", TimeMs: t0,
			ConversionType: "purchase", RevenueMicros: 10_000_000, Currency: "EUR"}},
		{Kind: flow.KindFlushAll, Reply: reply},
	}
	if err := s.process(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reply:
	default:
		t.Fatal("flush not acknowledged")
	}
	if len(hist.loads) != 1 || !slices.Equal(hist.loads[0], []string{"u1"}) {
		t.Fatalf("history loads = %v, want one of [u1]", hist.loads)
	}
	var sets int
	for _, u := range out.units {
		cr := &u.Credits
		for _, set := range cr.Sets {
			if set.ConversionID != "cv-1" {
				t.Fatalf("credited %q, want cv-1", set.ConversionID)
			}
			sets++
			var ids []string
			for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
				ids = append(ids, tp.ID)
			}
			if !slices.Equal(ids, []string{"tp-stored", "tp-live"}) {
				t.Fatalf("path = %v, want [tp-stored tp-live]", ids)
			}
			perModel := map[uint16]int64{}
			for _, c := range cr.Cells[set.Cells : set.Cells+set.CellsLen] {
				perModel[c.Model] += c.Revenue
			}
			for m, rev := range perModel {
				if rev != 10_000_000 {
					t.Errorf("model %s credits %d micros, want 10000000", cr.Models[m], rev)
				}
			}
		}
	}
	if sets == 0 {
		t.Fatal("no credited set sent to the output")
	}
	if got := st.HistoryLoads.Load(); got != 1 {
		t.Errorf("HistoryLoads = %d, want 1", got)
	}
}

// An evicted user's live copy of a touchpoint, later than the copy its
// history holds, is held first; merging the history then replaces it by
// the earlier copy (the earliest copy wins), which the conversion credits.
func TestShardHistoryCopyEarlierThanLiveCopyWins(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()
	s, _, out, _ := storedUserShard(t, attribution.Touchpoint{ID: "tp-x", TimeMs: t0 - 7_200_000, Channel: "email", Source: "newsletter", Medium: "email"})
	reply := make(chan struct{})
	batch := []flow.Item{
		{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: "tp-x", UserID: "u1", TimeMs: t0 - 3_600_000,
			Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc"}},
		{Kind: flow.KindConversion, CV: schemas.Conversion{EventID: "cv-1", UserID: "u1", TimeMs: t0, RevenueMicros: 10_000_000}},
		{Kind: flow.KindFlushAll, Reply: reply},
	}
	if err := s.process(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	var sets int
	for _, u := range out.units {
		cr := &u.Credits
		for _, set := range cr.Sets {
			sets++
			path := cr.Path[set.Path : set.Path+set.PathLen]
			if len(path) != 1 || path[0].ID != "tp-x" || path[0].TimeMs != t0-7_200_000 || path[0].Channel != "email" {
				t.Fatalf("path = %+v, want tp-x's earlier copy (email, 2h before)", path)
			}
		}
	}
	if sets == 0 {
		t.Fatal("no credited set sent to the output")
	}
}

// A conversion re-sent later (a producer's retry, stamped anew) after its
// user was evicted is attributed again from the copy the store holds: at
// the original's time, over the original's path, as replay and the
// in-memory dedup keep it. Before, the shard credited the later copy at its
// own time, over a path that took in the touchpoints between the two.
func TestShardEvictedUserKeepsEarliestConversionCopy(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()
	s, hist, out, _ := storedUserShard(t, attribution.Touchpoint{ID: "tp-a", TimeMs: t0 - 3_600_000, Channel: "email", Source: "newsletter", Medium: "email"})
	original := schemas.Conversion{EventID: "cv-1", UserID: "u1", TimeMs: t0, ConversionType: "purchase", RevenueMicros: 10_000_000, Currency: "EUR"}
	hist.stored.Conversions["u1"] = []schemas.Conversion{original}
	s.stored[KeyHash("u1")] |= StoredConversions
	resent := original
	resent.TimeMs = t0 + 2_000
	reply := make(chan struct{})
	batch := []flow.Item{
		{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: "tp-b", UserID: "u1", TimeMs: t0 + 1_000,
			Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc"}},
		{Kind: flow.KindConversion, CV: resent},
		{Kind: flow.KindFlushAll, Reply: reply},
	}
	if err := s.process(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	var sets int
	for _, u := range out.units {
		for _, r := range u.Convs {
			if r.CV.TimeMs != t0 {
				t.Errorf("conversion row stored at %d, want the original's %d", r.CV.TimeMs, t0)
			}
		}
		cr := &u.Credits
		for _, set := range cr.Sets {
			sets++
			var ids []string
			for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
				ids = append(ids, tp.ID)
			}
			if set.TimeMs != t0 || !slices.Equal(ids, []string{"tp-a"}) {
				t.Errorf("credited cv-1 at %d over %v, want the original at %d over [tp-a]", set.TimeMs, ids, t0)
			}
		}
	}
	if sets == 0 {
		t.Fatal("no credited set sent to the output")
	}
}

// storedUserShard is a shard whose store holds user u1 with the stored
// touchpoints, read through an in-memory History; its output is recorded.
func storedUserShard(t *testing.T, stored ...attribution.Touchpoint) (*Shard, *memHistory, *recordingOutput, *flow.Stats) {
	t.Helper()
	hist := &memHistory{stored: flow.History{
		Touchpoints: map[string][]attribution.Touchpoint{"u1": stored},
		Conversions: map[string][]schemas.Conversion{},
	}}
	out := &recordingOutput{}
	cfg := Config{}.WithDefaults()
	st := &flow.Stats{}
	s, err := New(0, &cfg, out, hist, st, Start{Stored: map[uint64]uint8{KeyHash("u1"): StoredEvents}})
	if err != nil {
		t.Fatal(err)
	}
	return s, hist, out, st
}

// After a restart most events are at or before their partition's frontier
// and most users have history: a batch with a late touchpoint of a user
// who converted before and a conversion of another stored user loads both
// users in one query, not one for the touchpoint and one more when the
// conversion is released (a load costs about the same for 1 key or 1,000:
// see docs/BENCHMARKS.md, "Catch-up after a restart").
func TestShardLoadsBatchHistoryOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()
	hist := &memHistory{stored: flow.History{
		Touchpoints: map[string][]attribution.Touchpoint{
			"u1": {{ID: "tp-1", TimeMs: t0 - 7_200_000, Channel: "email", Source: "newsletter", Medium: "email"}},
			"u2": {{ID: "tp-2", TimeMs: t0 - 7_200_000, Channel: "email", Source: "newsletter", Medium: "email"}},
		},
		Conversions: map[string][]schemas.Conversion{"u1": {{EventID: "cv-old", UserID: "u1", TimeMs: t0 - 3_600_000, RevenueMicros: 1_000_000}}},
	}}
	out := &recordingOutput{}
	cfg := Config{}.WithDefaults()
	st := &flow.Stats{}
	s, err := New(0, &cfg, out, hist, st, Start{
		Frontiers: map[int32]int64{0: t0},
		Stored:    map[uint64]uint8{KeyHash("u1"): StoredEvents | StoredConversions, KeyHash("u2"): StoredEvents},
	})
	if err != nil {
		t.Fatal(err)
	}
	reply := make(chan struct{})
	batch := []flow.Item{
		{Kind: flow.KindTouchpoint, TP: schemas.Touchpoint{EventID: "tp-late", UserID: "u1", TimeMs: t0 - 5_400_000,
			Interaction: schemas.InteractionClick, Channel: "paid_search", Source: "google", Medium: "cpc"}},
		{Kind: flow.KindConversion, CV: schemas.Conversion{EventID: "cv-2", UserID: "u2", TimeMs: t0 + 60_000, RevenueMicros: 5_000_000}},
		{Kind: flow.KindFlushAll, Reply: reply},
	}
	if err := s.process(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(hist.loads) != 1 || !slices.Equal(hist.loads[0], []string{"u1", "u2"}) {
		t.Fatalf("history loads = %v, want one of [u1 u2]", hist.loads)
	}
	credited := map[string]int{}
	for _, u := range out.units {
		for _, set := range u.Credits.Sets {
			credited[set.ConversionID] = int(set.PathLen)
		}
	}
	// cv-old is credited again over the late touchpoint; cv-2 over u2's
	// stored touchpoint.
	if credited["cv-old"] != 2 || credited["cv-2"] != 1 {
		t.Errorf("credited sets (path lengths) = %v, want cv-old over 2 touchpoints and cv-2 over 1", credited)
	}
}
