package attribution_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// handPaths are two channels, four distinct paths, six paths:
//
//	A      converting ×2
//	A > B  converting ×1
//	B      null ×2
//	B > A  null ×1
var handPaths = attribution.FitPaths{FromMs: 0, ToMs: 1000, Paths: []attribution.FitPath{
	{Channels: []string{"A"}, Conversions: 2},
	{Channels: []string{"A", "B"}, Conversions: 1},
	{Channels: []string{"B"}, Nulls: 2},
	{Channels: []string{"B", "A"}, Nulls: 1},
}}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

// TestFitMarkovOrder1ByHand checks the order-1 chain of handPaths:
//
//	(start) → A 3/6, → B 3/6
//	A → (conversion) 2/4 (A), → B 1/4 (A > B), → (null) 1/4 (B > A ends at A)
//	B → (conversion) 1/4 (A > B), → (null) 2/4 (B), → A 1/4 (B > A)
//
// x_A = 1/2 + x_B/4 and x_B = 1/4 + x_A/4 give x_A = 3/5, x_B = 2/5, so
// P = (3/5 + 2/5)/2 = 1/2. Without A, x_B = 1/4 and P₋A = 1/8: RE(A) =
// 1 − (1/8)/(1/2) = 3/4. Without B, x_A = 1/2 and P₋B = 1/4: RE(B) = 1/2.
// Shares: A 3/5, B 2/5.
func TestFitMarkovOrder1ByHand(t *testing.T) {
	f, err := attribution.FitMarkov(handPaths, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !near(f.P, 0.5) {
		t.Errorf("P = %.17g, want 1/2", f.P)
	}
	want := []attribution.MarkovEffect{
		{Channel: "A", PWithout: 1.0 / 8, RemovalEffect: 3.0 / 4, Share: 3.0 / 5},
		{Channel: "B", PWithout: 1.0 / 4, RemovalEffect: 1.0 / 2, Share: 2.0 / 5},
	}
	checkMarkovEffects(t, f, want)
	if f.Conversions != 3 || f.Nulls != 3 || f.Paths != 6 || f.DistinctPaths != 4 || len(f.States) != 2 {
		t.Errorf("counts: %d conversions, %d nulls, %d paths, %d distinct, %d states; want 3, 3, 6, 4, 2",
			f.Conversions, f.Nulls, f.Paths, f.DistinctPaths, len(f.States))
	}
	if len(f.Warnings) != 0 {
		t.Errorf("warnings %q, want none", f.Warnings)
	}
}

// TestFitMarkovOrder2ByHand checks the order-2 chain of handPaths: states
// (A), (B), (A B), (B A), no cycles.
//
//	(start) → (A) 3/6, → (B) 3/6
//	(A) → (conversion) 2/3, → (A B) 1/3;  (A B) → (conversion) 1
//	(B) → (null) 2/3, → (B A) 1/3;        (B A) → (null) 1
//
// x(A) = 1, x(B) = 0, P = 1/2. Without A only (B) is left: P₋A = 0,
// RE(A) = 1. Without B, x(A) = 2/3, P₋B = 1/3, RE(B) = 1/3. Shares 3/4, 1/4.
func TestFitMarkovOrder2ByHand(t *testing.T) {
	f, err := attribution.FitMarkov(handPaths, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !near(f.P, 0.5) {
		t.Errorf("P = %.17g, want 1/2", f.P)
	}
	var states []string
	for _, s := range f.States {
		states = append(states, s.String())
	}
	if got := strings.Join(states, ", "); got != "A, A > B, B, B > A" {
		t.Errorf("states %s", got)
	}
	checkMarkovEffects(t, f, []attribution.MarkovEffect{
		{Channel: "A", PWithout: 0, RemovalEffect: 1, Share: 3.0 / 4},
		{Channel: "B", PWithout: 1.0 / 3, RemovalEffect: 1.0 / 3, Share: 1.0 / 4},
	})
}

func checkMarkovEffects(t *testing.T, f *attribution.MarkovFit, want []attribution.MarkovEffect) {
	t.Helper()
	if len(f.Effects) != len(want) {
		t.Fatalf("effects %+v, want %+v", f.Effects, want)
	}
	for i, w := range want {
		g := f.Effects[i]
		if g.Channel != w.Channel || !near(g.PWithout, w.PWithout) || !near(g.RemovalEffect, w.RemovalEffect) || !near(g.Share, w.Share) {
			t.Errorf("effects[%d] = %+v, want %+v", i, g, w)
		}
	}
}

// TestMarkovCredit applies the order-1 fit of handPaths (RE(A) = 3/4,
// RE(B) = 1/2: A takes 3/5 of a conversion, B 2/5).
func TestMarkovCredit(t *testing.T) {
	f, err := attribution.FitMarkov(handPaths, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.ID = "fit-1"
	runFittedCases(t, "markov", attribution.Fits{Markov: f}, []modelCase{
		{name: "A then B", tps: []attribution.Touchpoint{click("a", 2*day, "A"), click("b", day, "B")},
			path: []string{"a", "b"}, want: []float64{0.6, 0.4}, micros: []int64{60_000_000, 40_000_000}},
		{name: "A's share split over its two touches", tps: []attribution.Touchpoint{click("a1", 3*day, "A"), click("b", 2*day, "B"), click("a2", day, "A")},
			path: []string{"a1", "b", "a2"}, want: []float64{0.3, 0.4, 0.3}, micros: []int64{30_000_000, 40_000_000, 30_000_000}},
		{name: "an unseen channel gets nothing", tps: []attribution.Touchpoint{click("c", 2*day, "C"), click("b", day, "B")},
			path: []string{"c", "b"}, want: []float64{0, 1}, micros: []int64{0, 100_000_000}},
		{name: "only unseen channels: linear", tps: []attribution.Touchpoint{click("c", 2*day, "C"), click("d", day, "D")},
			path: []string{"c", "d"}, want: []float64{0.5, 0.5}, micros: []int64{50_000_000, 50_000_000}},
		{name: "nothing in the window: the unattributed row", tps: []attribution.Touchpoint{click("old", 40*day, "A")}},
	})
}

// runFittedCases runs model cases through an engine holding only model,
// with fits set.
func runFittedCases(t *testing.T, model string, fits attribution.Fits, cases []modelCase) {
	t.Helper()
	for i := range cases {
		cases[i].fits = &fits
	}
	runModelCases(t, model, cases)
}

func TestFitMarkovBadInput(t *testing.T) {
	cases := []struct {
		name  string
		paths attribution.FitPaths
		order int
		want  string
	}{
		{"no paths", attribution.FitPaths{}, 1, "no paths"},
		{"only zero counts", attribution.FitPaths{Paths: []attribution.FitPath{{Channels: []string{"A"}}}}, 1, "no paths"},
		{"no conversions", attribution.FitPaths{Paths: []attribution.FitPath{{Channels: []string{"A", "B"}, Nulls: 4}}}, 1, "no conversions in the window"},
		{"order 0", handPaths, 0, "markov order: must be in [1, 4], got 0"},
		{"order 5", handPaths, 5, "markov order: must be in [1, 4], got 5"},
		{"empty path", attribution.FitPaths{Paths: []attribution.FitPath{{Conversions: 1}}}, 1, "paths[0]: no channels"},
		{"empty channel", attribution.FitPaths{Paths: []attribution.FitPath{{Channels: []string{"A", ""}, Conversions: 1}}}, 1, "paths[0]: channel 1 is empty"},
		{"window backwards", attribution.FitPaths{FromMs: 2, ToMs: 1, Paths: handPaths.Paths}, 1, "window: to (1) is before from (2)"},
		{"counts overflow", attribution.FitPaths{Paths: []attribution.FitPath{{Channels: []string{"A"}, Conversions: math.MaxUint64, Nulls: 1}}}, 1, "counts overflow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := attribution.FitMarkov(tc.paths, tc.order)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FitMarkov = %v, %v; want an error with %q", f, err, tc.want)
			}
			if tc.order == 1 {
				if s, err := attribution.FitShapley(tc.paths); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("FitShapley = %v, %v; want an error with %q", s, err, tc.want)
				}
			}
		})
	}
}

// TestOneChannel: a fit over one channel succeeds with a warning; the
// channel takes every conversion, split evenly over its touches.
func TestOneChannel(t *testing.T) {
	paths := attribution.FitPaths{Paths: []attribution.FitPath{{Channels: []string{"email"}, Conversions: 2, Nulls: 3}}}
	m, err := attribution.FitMarkov(paths, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attribution.FitShapley(paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range [][]string{m.Warnings, s.Warnings} {
		if len(w) != 1 || !strings.Contains(w[0], "one channel only (email)") {
			t.Errorf("warnings %q, want one about the single channel", w)
		}
	}
	if !near(m.P, 0.4) || !near(m.Effects[0].RemovalEffect, 1) || !near(m.Effects[0].Share, 1) {
		t.Errorf("markov: P %v effects %+v, want P 0.4, RE 1, share 1", m.P, m.Effects)
	}
	if !near(s.Sets[0].P, 0.4) || !near(s.Sets[0].Phi[0], 0.4) || !near(s.Effects[0].Share, 1) {
		t.Errorf("shapley: sets %+v effects %+v, want p = φ = 0.4, share 1", s.Sets, s.Effects)
	}
	tps := []attribution.Touchpoint{click("e1", 2*day, "email"), click("e2", day, "email")}
	for _, model := range []string{"markov", "shapley"} {
		runFittedCases(t, model, attribution.Fits{Markov: m, Shapley: s}, []modelCase{{name: model, tps: tps,
			path: []string{"e1", "e2"}, want: []float64{0.5, 0.5}, micros: []int64{50_000_000, 50_000_000}}})
	}
}

// TestFitJSONRoundTrip: a fit stored as JSON and loaded back credits the
// same.
func TestFitJSONRoundTrip(t *testing.T) {
	m, err := attribution.FitMarkov(handPaths, 2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attribution.FitShapley(handPaths)
	if err != nil {
		t.Fatal(err)
	}
	var m2 attribution.MarkovFit
	var s2 attribution.ShapleyFit
	for _, c := range []struct{ from, to any }{{m, &m2}, {s, &s2}} {
		b, err := json.Marshal(c.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, c.to); err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(c.to)
		if string(b) != string(b2) {
			t.Errorf("round trip changed the fit:\n%s\n%s", b, b2)
		}
	}
	if err := m2.Validate(); err != nil {
		t.Error(err)
	}
	if err := s2.Validate(); err != nil {
		t.Error(err)
	}
}
