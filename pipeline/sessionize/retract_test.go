package sessionize

import (
	"context"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// retractShard is a shard whose store holds user u1 with one touchpoint
// and the given copies of conversion cv-1, credited under the days of
// live (flow.History.Days).
func retractShard(t *testing.T, tp attribution.Touchpoint, copies []schemas.Conversion, live ...int32) (*Shard, *recordingOutput, *flow.Stats) {
	t.Helper()
	s, hist, out, st := storedUserShard(t, tp)
	hist.stored.Conversions["u1"] = copies
	hist.stored.Days = map[string][]int32{"cv-1": live}
	s.stored[KeyHash("u1")] |= StoredConversions
	return s, out, st
}

func processFlushed(t *testing.T, s *Shard, items ...flow.Item) {
	t.Helper()
	reply := make(chan struct{})
	if err := s.process(context.Background(), append(items, flow.Item{Kind: flow.KindFlushAll, Reply: reply})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reply:
	default:
		t.Fatal("flush not acknowledged")
	}
}

// setsOf returns cv-1's credited sets and its retractions in out.
func setsOf(out *recordingOutput) (credited, retracted []flow.CreditSet) {
	for _, u := range out.units {
		for _, set := range u.Credits.Sets {
			if set.ConversionID != "cv-1" {
				continue
			}
			if set.Retract {
				retracted = append(retracted, set)
			} else {
				credited = append(credited, set)
			}
		}
	}
	return credited, retracted
}

// A copy of an already credited conversion, stamped on the day before
// (a producer's re-send with the client's clock), arrives after a
// restart: the earliest copy wins, as replay keeps it, so the conversion
// is credited under the earlier day, and its rows under the day it left
// are retracted (before, they stayed: the conversion counted twice).
func TestShardRetractsTheDayAConversionLeft(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC).UnixMilli()
	original := schemas.Conversion{EventID: "cv-1", UserID: "u1", TimeMs: t0, ConversionType: "purchase", RevenueMicros: 10_000_000, Currency: "EUR"}
	s, out, st := retractShard(t, attribution.Touchpoint{ID: "tp-a", TimeMs: t0 - 6*3_600_000, Channel: "email"},
		[]schemas.Conversion{original}, dayOf(t0))
	earlier := original
	earlier.TimeMs = t0 - 2*3_600_000 // 23:00 the day before
	processFlushed(t, s, flow.Item{Kind: flow.KindConversion, CV: earlier})

	credited, retracted := setsOf(out)
	if len(credited) != 1 || credited[0].TimeMs != earlier.TimeMs || credited[0].CellsLen == 0 {
		t.Fatalf("credited sets = %+v, want one at the earlier copy's time %d", credited, earlier.TimeMs)
	}
	if len(retracted) != 1 {
		t.Fatalf("retractions = %+v, want one under the day left", retracted)
	}
	r := retracted[0]
	if r.TimeMs != int64(dayOf(t0))*msPerDay || r.Version != flow.RetractVersion || r.CellsLen != 0 || r.PathLen != 0 || r.UserKey != "u1" {
		t.Errorf("retraction = %+v, want day %d's start, version %d, no cells, no path, user u1", r, dayOf(t0), flow.RetractVersion)
	}
	if got := st.Retractions.Load(); got != 1 {
		t.Errorf("Retractions = %d, want 1", got)
	}
}

// A copy stamped earlier on the same day, or later, moves no day: no
// retraction.
func TestShardRetractsNothingWithinADay(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()
	original := schemas.Conversion{EventID: "cv-1", UserID: "u1", TimeMs: t0, RevenueMicros: 10_000_000}
	for _, delta := range []int64{-3_600_000, 3_600_000, 13 * 3_600_000} {
		s, out, _ := retractShard(t, attribution.Touchpoint{ID: "tp-a", TimeMs: t0 - 6*3_600_000, Channel: "email"},
			[]schemas.Conversion{original}, dayOf(t0))
		cp := original
		cp.TimeMs = t0 + delta
		processFlushed(t, s, flow.Item{Kind: flow.KindConversion, CV: cp})
		credited, retracted := setsOf(out)
		if len(credited) != 1 || len(retracted) != 0 {
			t.Errorf("copy at %+d ms: credited %d sets, retracted %+v; want 1 and none", delta, len(credited), retracted)
		}
	}
}

// The crash case: the earlier copy's raw row and its new credit were
// stored, the retraction was not (the process died before the flush
// ended, or between the parts of one insert). After the restart the store
// says the conversion still shows credits under the day it left; when the
// copy comes again (its offset was not committed) the retraction is
// written, although the copy no longer moves the conversion.
func TestShardRetractsADayTheStoreStillShows(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC).UnixMilli()
	original := schemas.Conversion{EventID: "cv-1", UserID: "u1", TimeMs: t0, RevenueMicros: 10_000_000}
	earlier := original
	earlier.TimeMs = t0 - 2*3_600_000
	s, out, _ := retractShard(t, attribution.Touchpoint{ID: "tp-a", TimeMs: t0 - 6*3_600_000, Channel: "email"},
		[]schemas.Conversion{original, earlier}, dayOf(t0), dayOf(earlier.TimeMs))
	processFlushed(t, s, flow.Item{Kind: flow.KindConversion, CV: earlier})
	credited, retracted := setsOf(out)
	if len(credited) != 1 || credited[0].TimeMs != earlier.TimeMs {
		t.Fatalf("credited sets = %+v, want one at %d", credited, earlier.TimeMs)
	}
	if len(retracted) != 1 || retracted[0].TimeMs != int64(dayOf(t0))*msPerDay {
		t.Fatalf("retractions = %+v, want one under day %d", retracted, dayOf(t0))
	}
}
