package attribution_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
)

// TestFitPathsBuilder builds the fitting paths of two keys over the window
// [convMs − 10 days, convMs + 1 day), lookback 7 days, view window 1 day.
func TestFitPathsBuilder(t *testing.T) {
	from, to := convMs-10*day, convMs+day
	conv := func(id string, age int64) attribution.Conversion {
		return attribution.Conversion{ID: id, TimeMs: convMs - age, RevenueMicros: 1}
	}
	keyA := []attribution.Touchpoint{ // sorted, as a Journey holds them
		click("a0", 20*day, "display"),   // before every window
		click("a1", 6*day, "email"),      // c1's path (and c2's without reset)
		click("a2", 5*day, "email"),      // collapsed with a1
		imp("a3", 4*day+hour, "display"), // an impression more than a day before c1
		click("a4", 3*day+hour, "paid"),  // c1's path
		click("a5", 2*day, "organic"),    // c2's path
		click("a6", 12*hour, "paid"),     // after c2: the null path
		imp("a7", 10*hour, "display"),    // 34 h before to: outside the view window
		imp("a8", -12*hour, "display"),   // 12 h before to: the null path
		click("a9", -day, "email"),       // at to: excluded
	}
	// c1 at 3 days, listed twice; c2 at 1 day; "old" before the window,
	// "late" at to.
	convsA := []attribution.Conversion{conv("c2", day), conv("c1", 3*day), conv("c1", 3*day), conv("old", 30*day), conv("late", -day)}
	keyB := []attribution.Touchpoint{click("b1", 2*day, "email"), click("b2", day, "paid")}

	build := func(reset bool) attribution.FitPaths {
		b, err := attribution.NewFitPathsBuilder(attribution.Config{Lookback: 7 * 24 * time.Hour, ViewWindow: 24 * time.Hour, ResetOnConversion: reset}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		b.Add(keyA, convsA)
		b.Add(keyB, nil)
		b.Add(nil, []attribution.Conversion{conv("empty", 0)}) // a conversion with no path: left out
		return b.FitPaths()
	}
	// Without reset: c1 (email, paid), c2 (email, paid, organic). The null
	// path of A starts after c2: a6 paid, a8 display. B never converted:
	// its null path is all of it.
	got := build(false)
	want := attribution.FitPaths{FromMs: from, ToMs: to, Paths: []attribution.FitPath{
		{Channels: []string{"email", "paid"}, Conversions: 1, Nulls: 1},
		{Channels: []string{"email", "paid", "organic"}, Conversions: 1},
		{Channels: []string{"paid", "display"}, Nulls: 1},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("without reset:\n got %+v\nwant %+v", got, want)
	}
	// With reset, c2's path starts after c1: organic only.
	got = build(true)
	want.Paths = []attribution.FitPath{want.Paths[0], {Channels: []string{"organic"}, Conversions: 1}, want.Paths[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with reset:\n got %+v\nwant %+v", got, want)
	}
	// The result feeds the fits.
	if _, err := attribution.FitMarkov(got, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := attribution.NewFitPathsBuilder(attribution.Config{}, to, from); err == nil || !strings.Contains(err.Error(), "before from") {
		t.Errorf("backwards window: %v", err)
	}
}
