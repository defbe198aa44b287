package attribution_test

import (
	"math"
	"slices"
	"testing"

	"github.com/attributor/attributor/attribution"
)

func newEngine(t testing.TB, cfg attribution.Config) *attribution.Engine {
	t.Helper()
	e, err := attribution.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAttributeUnattributed(t *testing.T) {
	e := newEngine(t, attribution.Config{})
	tps := []attribution.Touchpoint{
		click("too-old", 30*day+ms, "email"),
		imp("old-impression", day+ms, "display"),
		click("after", -ms, "paid_search"),
	}
	var r attribution.Result
	// A previous call leaves a path and credits behind: they must go.
	e.Attribute(attribution.Conversion{TimeMs: convMs - 2*ms}, []attribution.Touchpoint{click("x", 0, "email")}, attribution.NoReset, &r)
	e.Attribute(attribution.Conversion{ID: "c", TimeMs: convMs, RevenueMicros: 42_500_000}, tps, attribution.NoReset, &r)
	if len(r.Path) != 0 {
		t.Fatalf("path = %q, want none", pathIDs(r.Path))
	}
	var want []attribution.Credit
	for m := range attribution.ModelNames {
		want = append(want, attribution.Credit{Model: m, Position: 0, Fraction: 1, RevenueMicros: 42_500_000})
	}
	if !slices.Equal(r.Credits, want) {
		t.Fatalf("credits = %+v\nwant one unattributed row per model %+v", r.Credits, want)
	}
}

func TestAttributeRowsPerModel(t *testing.T) {
	e := newEngine(t, attribution.Config{Models: []string{"linear", "last_click"}})
	tps := []attribution.Touchpoint{click("a", 2*day, "email"), click("b", day, "display"), click("c", hour, "direct")}
	var r attribution.Result
	e.Attribute(attribution.Conversion{TimeMs: convMs, RevenueMicros: 3}, tps, attribution.NoReset, &r)
	want := []attribution.Credit{
		{Model: 0, Position: 1, Fraction: 1.0 / 3, RevenueMicros: 1},
		{Model: 0, Position: 2, Fraction: 1.0 / 3, RevenueMicros: 1},
		{Model: 0, Position: 3, Fraction: 1.0 / 3, RevenueMicros: 1},
		{Model: 1, Position: 1, Fraction: 0, RevenueMicros: 0},
		{Model: 1, Position: 2, Fraction: 0, RevenueMicros: 0},
		{Model: 1, Position: 3, Fraction: 1, RevenueMicros: 3},
	}
	if !slices.Equal(r.Credits, want) {
		t.Fatalf("credits = %+v\nwant %+v", r.Credits, want)
	}
	if got := e.Models()[1].Name(); got != "last_click" {
		t.Errorf("Models()[1] = %s, want the configured order", got)
	}
}

// TestRevenueSplit checks the largest-remainder split on exact cases.
func TestRevenueSplit(t *testing.T) {
	three := []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")}
	const maxRevenue = 1e18 // 1e12 currency units, the decoder's limit
	forty := benchPath(40)
	for i := range forty {
		forty[i].TimeMs = convMs - day // the bench path, inside the windows here
	}
	cases := []struct {
		name    string
		model   string
		tps     []attribution.Touchpoint
		revenue int64
		want    []int64
	}{
		{"100.00 over 3, ties to the earlier", "linear", three, 100_000_000, []int64{33_333_334, 33_333_333, 33_333_333}},
		{"revenue 0", "linear", three, 0, []int64{0, 0, 0}},
		{"1 micro over 3", "linear", three, 1, []int64{1, 0, 0}},
		{"1 micro, 40/20/40", "position_based", three, 1, []int64{1, 0, 0}},
		{"3 micros, 40/20/40: remainders .2/.6/.2", "position_based", three, 3, []int64{1, 1, 1}},
		{"4 micros, 40/20/40: remainders .6/.8/.6", "position_based", three, 4, []int64{2, 1, 1}},
		{"1e12 over 3", "linear", three, maxRevenue, []int64{333_333_333_333_333_334, 333_333_333_333_333_333, 333_333_333_333_333_333}},
		{"1e12 less a micro over 3", "linear", three, maxRevenue - 1, []int64{333_333_333_333_333_333, 333_333_333_333_333_333, 333_333_333_333_333_333}},
		// Beyond 2^53 micros float64 cannot hold every amount: the one-hot
		// models must still give all of it, and only it, to one touchpoint.
		{"1e12 less a micro to the last click", "last_click", three, maxRevenue - 1, []int64{0, 0, maxRevenue - 1}},
		{"2^53+1 micros to the last click", "last_click", three, 1<<53 + 1, []int64{0, 0, 1<<53 + 1}},
		{"max int64 over 3", "linear", three, math.MaxInt64, []int64{3_074_457_345_618_258_603, 3_074_457_345_618_258_602, 3_074_457_345_618_258_602}},
		{"1e12 by time decay 1/7 2/7 4/7", "time_decay", []attribution.Touchpoint{click("a", 14*day, "display"), click("b", 7*day, "email"), click("c", 0, "referral")},
			maxRevenue, []int64{142_857_142_857_142_857, 285_714_285_714_285_714, 571_428_571_428_571_429}},
		{"19 micros over 20: all but the last", "linear", forty[:20], 19, append(ones(19), 0)},
		{"39 micros over 40: all but the last", "linear", forty, 39, append(ones(39), 0)},
		{"40000001 micros over 40: the first gets one more", "linear", forty, 40_000_001, append([]int64{1_000_001}, repeat(1_000_000, 39)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, attribution.Config{Models: []string{tc.model}})
			var r attribution.Result
			e.Attribute(attribution.Conversion{TimeMs: convMs, RevenueMicros: tc.revenue}, tc.tps, attribution.NoReset, &r)
			var got []int64
			for _, c := range r.Credits {
				got = append(got, c.RevenueMicros)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("split = %v, want %v", got, tc.want)
			}
		})
	}
}

func ones(n int) []int64 { return repeat(1, n) }

func repeat(v int64, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestAfterBound checks the after bound: touchpoints at or before the
// previous conversion are left out, later ones are in.
func TestAfterBound(t *testing.T) {
	e := newEngine(t, attribution.Config{Models: []string{"linear"}})
	tps := []attribution.Touchpoint{click("a", 3*day, "email"), click("b", 2*day, "display"), click("c", day, "referral"), click("d", 0, "direct")}
	cases := []struct {
		name  string
		after int64
		path  []string
	}{
		{"no reset", attribution.NoReset, []string{"a", "b", "c", "d"}},
		{"before the lookback changes nothing", convMs - 40*day, []string{"a", "b", "c", "d"}},
		{"at a touchpoint excludes it", convMs - 2*day, []string{"c", "d"}},
		{"1 ms before a touchpoint keeps it", convMs - 2*day - ms, []string{"b", "c", "d"}},
		{"at the conversion leaves nothing", convMs, nil},
		{"after the conversion leaves nothing", math.MaxInt64, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r attribution.Result
			e.Attribute(attribution.Conversion{TimeMs: convMs, RevenueMicros: 1}, tps, tc.after, &r)
			if got := pathIDs(r.Path); !slices.Equal(got, tc.path) {
				t.Fatalf("path = %q, want %q", got, tc.path)
			}
		})
	}
}

// TestAttributeZeroAllocs checks that the hot path does not allocate once
// the result and the scratch buffers have grown to the longest path.
func TestAttributeZeroAllocs(t *testing.T) {
	e := newEngine(t, attribution.Config{MaxPathTouchpoints: 200})
	long, short := benchPath(200), benchPath(5)
	conv := attribution.Conversion{ID: "c", TimeMs: benchConvMs, RevenueMicros: 100_000_001}
	var r attribution.Result
	e.Attribute(conv, long, attribution.NoReset, &r)
	if len(r.Path) != 200 {
		t.Fatalf("warm-up path has %d touchpoints, want 200", len(r.Path))
	}
	for _, tc := range []struct {
		name string
		tps  []attribution.Touchpoint
	}{{"200 touchpoints", long}, {"5 touchpoints", short}, {"none in window", nil}} {
		if n := testing.AllocsPerRun(100, func() { e.Attribute(conv, tc.tps, attribution.NoReset, &r) }); n != 0 {
			t.Errorf("%s: %v allocations per conversion, want 0", tc.name, n)
		}
	}
}

func TestWindow(t *testing.T) {
	e := newEngine(t, attribution.Config{Lookback: 48 * 3600e9, ViewWindow: 72 * 3600e9})
	// The view window is capped by the lookback.
	for _, tc := range []struct {
		tp   attribution.Touchpoint
		want bool
	}{
		{click("c", 2*day, ""), true},
		{click("c", 2*day+ms, ""), false},
		{imp("i", 2*day, ""), true},
		{imp("i", 2*day+ms, ""), false},
		{imp("i", 0, ""), true},
		{imp("i", -ms, ""), false},
	} {
		if got := e.Window(&tc.tp, convMs); got != tc.want {
			t.Errorf("Window(%+v) = %v, want %v", tc.tp, got, tc.want)
		}
	}
}
