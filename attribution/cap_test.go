package attribution_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// A path keeps the latest MaxPathTouchpoints touchpoints within the
// windows; the rows of a conversion are then at most models x cap however
// long the journey, and they are exactly the credits of the uncapped engine
// over those latest touchpoints.
func TestAttributeCapsThePath(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, c := range []struct{ n, cap int }{{10, 50}, {50, 50}, {51, 50}, {1000, 50}, {300, 7}, {5000, 1}} {
		var j attribution.Journey
		for i := range c.n {
			age := int64(rng.IntN(40*24)) * hour // some beyond the 30-day lookback
			if rng.IntN(3) == 0 {
				j.Add(imp(fmt.Sprint("i", i), age%(2*day), "display")) // some beyond the 1-day view window
			} else {
				j.Add(click(fmt.Sprint("c", i), age, "email"))
			}
		}
		tps := j.Touchpoints()
		capped := newEngine(t, attribution.Config{MaxPathTouchpoints: c.cap})
		full := newEngine(t, attribution.Config{MaxPathTouchpoints: attribution.MaxPathTouchpointsLimit})
		conv := attribution.Conversion{ID: "cv", TimeMs: convMs, RevenueMicros: 99_999_999}
		var got, all, want attribution.Result
		capped.Attribute(conv, tps, attribution.NoReset, &got)
		full.Attribute(conv, tps, attribution.NoReset, &all)
		latest := all.Path[max(0, len(all.Path)-c.cap):]
		full.Attribute(conv, latest, attribution.NoReset, &want)
		if !reflect.DeepEqual(got.Path, want.Path) || !reflect.DeepEqual(got.Credits, want.Credits) {
			t.Fatalf("n=%d cap=%d: capped path %v\nwant the latest %d of the windows %v", c.n, c.cap, pathIDs(got.Path), c.cap, pathIDs(want.Path))
		}
		if got.Capped != (len(all.Path) > c.cap) || all.Capped {
			t.Errorf("n=%d cap=%d: Capped %v with %d in the windows", c.n, c.cap, got.Capped, len(all.Path))
		}
		if models := len(capped.Models()); len(got.Credits) > models*c.cap {
			t.Errorf("n=%d cap=%d: %d credit rows, more than models x cap = %d", c.n, c.cap, len(got.Credits), models*c.cap)
		}
	}
}

func TestMaxPathTouchpointsDefaultAndBounds(t *testing.T) {
	if got := (attribution.Config{}).WithDefaults().MaxPathTouchpoints; got != 50 {
		t.Fatalf("default max_path_touchpoints %d, want 50", got)
	}
	for _, v := range []int{-1, attribution.MaxPathTouchpointsLimit + 1} {
		if _, err := attribution.NewEngine(attribution.Config{MaxPathTouchpoints: v}); err == nil {
			t.Errorf("max_path_touchpoints %d accepted", v)
		}
	}
}

// A long journey deduplicates by ID exactly as a short one does, across
// the switch to its ID index and back (prune).
func TestJourneyLongDedup(t *testing.T) {
	var j attribution.Journey
	for i := range 500 {
		if !j.Add(click(fmt.Sprint("t", i), int64(500-i)*ms, "email")) {
			t.Fatalf("touchpoint %d refused", i)
		}
		if j.Add(click(fmt.Sprint("t", i/2), int64(i)*ms, "display")) {
			t.Fatalf("duplicate t%d added at length %d", i/2, j.Len())
		}
	}
	if j.Len() != 500 {
		t.Fatalf("len %d", j.Len())
	}
	// Prune all but the 10 latest: their IDs are kept, the others forgotten.
	if n := j.Prune(convMs - 10*ms); n != 490 {
		t.Fatalf("pruned %d, want 490", n)
	}
	if j.Add(click("t495", 0, "email")) || !j.Add(click("t0", 0, "email")) {
		t.Fatal("after prune: a held id added again, or a pruned one refused")
	}
}
