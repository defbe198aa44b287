package attribution_test

import (
	"testing"

	"github.com/attributor/attributor/attribution"
)

// TestFitShapleyByHand checks the sets of handPaths:
//
//	{A}:    A ×2 converting           p = 2/2 = 1
//	{A, B}: A > B converting, B > A null  p = 1/2
//	{B}:    B ×2 null                 p = 0
//
// For S = {A, B}, both coalition weights are 1/2:
//
//	φ(A) = ½(p(A) − p(∅)) + ½(p(AB) − p(B)) = ½·1 + ½·½ = 3/4
//	φ(B) = ½(p(B) − p(∅)) + ½(p(AB) − p(A)) = 0 + ½(½ − 1) = −1/4
//
// (they sum to p(AB) = 1/2). φ(B) < 0 counts as 0: A takes all of {A, B}'s
// conversion, and all 3 training conversions are A's.
func TestFitShapleyByHand(t *testing.T) {
	f, err := attribution.FitShapley(handPaths)
	if err != nil {
		t.Fatal(err)
	}
	want := []attribution.ShapleySet{
		{Channels: []string{"A"}, Conversions: 2, P: 1, Phi: []float64{1}},
		{Channels: []string{"A", "B"}, Conversions: 1, Nulls: 1, P: 0.5, Phi: []float64{0.75, -0.25}},
		{Channels: []string{"B"}, Nulls: 2, P: 0},
	}
	if len(f.Sets) != len(want) {
		t.Fatalf("sets %+v, want %+v", f.Sets, want)
	}
	for i, w := range want {
		g := f.Sets[i]
		ok := len(g.Channels) == len(w.Channels) && g.Conversions == w.Conversions && g.Nulls == w.Nulls && near(g.P, w.P) && len(g.Phi) == len(w.Phi)
		for k := range w.Phi {
			ok = ok && g.Channels[k] == w.Channels[k] && near(g.Phi[k], w.Phi[k])
		}
		if !ok {
			t.Errorf("sets[%d] = %+v, want %+v", i, g, w)
		}
	}
	if e := f.Effects; len(e) != 2 || !near(e[0].Conversions, 3) || !near(e[0].Share, 1) || e[1].Conversions != 0 || e[1].Share != 0 {
		t.Errorf("effects %+v, want A 3 conversions (share 1), B none", e)
	}
}

// threeChannels: p({A}) = 1/2, p({B}) = 1/4, p({A,B}) = 3/4, p({A,B,C}) = 1,
// {C}, {A,C} and {B,C} unseen (0). For S = {A, B, C}, n = 3, the
// weights are w(0) = 1/3, w(1) = 1/6, w(2) = 1/3:
//
//	φ(A) = ⅓(½) + ⅙(¾ − ¼) + ⅙(0 − 0) + ⅓(1 − 0) = 1/6 + 1/12 + 1/3 = 7/12
//	φ(B) = ⅓(¼) + ⅙(¾ − ½) + ⅙(0 − 0) + ⅓(1 − 0) = 1/12 + 1/24 + 1/3 = 11/24
//	φ(C) = ⅓(0) + ⅙(0 − ½) + ⅙(0 − ¼) + ⅓(1 − ¾) = −1/12 − 1/24 + 1/12 = −1/24
//
// (sum 1 = p(S)). C counts as 0: A gets 7/12 / (7/12 + 11/24) = 14/25, B 11/25.
var threeChannels = attribution.FitPaths{Paths: []attribution.FitPath{
	{Channels: []string{"A"}, Conversions: 1, Nulls: 1},
	{Channels: []string{"B"}, Conversions: 1, Nulls: 3},
	{Channels: []string{"B", "A"}, Conversions: 3, Nulls: 1},
	{Channels: []string{"C", "A", "B"}, Conversions: 2},
}}

func TestShapleyThreeChannelsByHand(t *testing.T) {
	f, err := attribution.FitShapley(threeChannels)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Sets[2] // {A}, {A, B}, {A, B, C}, {B}
	if len(s.Phi) != 3 || !near(s.Phi[0], 7.0/12) || !near(s.Phi[1], 11.0/24) || !near(s.Phi[2], -1.0/24) {
		t.Fatalf("set %+v, want φ 7/12, 11/24, −1/24", s)
	}
	tps := []attribution.Touchpoint{click("c", 3*day, "C"), click("a", 2*day, "A"), click("b", day, "B")}
	runFittedCases(t, "shapley", attribution.Fits{Shapley: f}, []modelCase{
		{name: "the fit's own set", tps: tps, path: []string{"c", "a", "b"}, want: []float64{0, 14.0 / 25, 11.0 / 25}},
		// {A, B, D}: D unseen, so every set holding D has p = 0, p(ABD)
		// too: φ(A) = ⅓(½) + ⅙(¾ − ¼) = 1/4, φ(B) = ⅓(¼) + ⅙(¾ − ½) = 1/8,
		// φ(D) = ⅙(0 − ½) + ⅙(0 − ¼) + ⅓(0 − ¾) = −3/8 (sum 0 = p(ABD)).
		// A gets (1/4)/(3/8) = 2/3, B 1/3.
		{name: "with an unseen channel", tps: []attribution.Touchpoint{click("d", 3*day, "D"), click("a", 2*day, "A"), click("b", day, "B")},
			path: []string{"d", "a", "b"}, want: []float64{0, 2.0 / 3, 1.0 / 3}},
		// {B, C}, unseen as a set: φ(B) = ½(¼) + ½(0 − 0) = 1/8,
		// φ(C) = ½(0) + ½(0 − ¼) = −1/8: B takes it all.
		{name: "a set unseen in training", tps: []attribution.Touchpoint{click("b", 2*day, "B"), click("c", day, "C")},
			path: []string{"b", "c"}, want: []float64{1, 0}},
		// {A, B}: φ(A) = ½(½) + ½(¾ − ¼) = 1/2, φ(B) = ½(¼) + ½(¾ − ½) = 1/4.
		{name: "A twice", tps: []attribution.Touchpoint{click("a1", 3*day, "A"), click("b", 2*day, "B"), click("a2", day, "A")},
			path: []string{"a1", "b", "a2"}, want: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{name: "only unseen channels: linear", tps: []attribution.Touchpoint{click("x", 2*day, "X"), click("y", day, "Y")},
			path: []string{"x", "y"}, want: []float64{0.5, 0.5}},
	})
}

// TestShapleyManyChannels: a path of more than 20 distinct channels is
// credited linearly, and counted.
func TestShapleyManyChannels(t *testing.T) {
	var tps []attribution.Touchpoint
	var paths []attribution.FitPath
	var chans []string
	for i := range 21 {
		ch := string(rune('a' + i))
		chans = append(chans, ch)
		paths = append(paths, attribution.FitPath{Channels: []string{ch}, Conversions: uint64(i + 1), Nulls: 1})
		tps = append(tps, click(ch, int64(30-i)*day, ch))
	}
	paths = append(paths, attribution.FitPath{Channels: chans, Conversions: 1})
	f, err := attribution.FitShapley(attribution.FitPaths{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, attribution.Config{Models: []string{"shapley"}})
	if err := e.SetFits(attribution.Fits{Shapley: f}); err != nil {
		t.Fatal(err)
	}
	var r attribution.Result
	e.Attribute(attribution.Conversion{TimeMs: convMs, RevenueMicros: 21}, tps, attribution.NoReset, &r)
	for _, c := range r.Credits {
		if c.RevenueMicros != 1 {
			t.Fatalf("credits %+v, want 1 micro each (linear)", r.Credits)
		}
	}
	if s := e.Stats(0); s.TooManyChannels != 1 || s.Linear != 0 {
		t.Errorf("stats %+v, want one conversion with too many channels", s)
	}
	// 20 of them are computed exactly. The only sets seen inside them are
	// the single ones, p({c}) = (i+1)/(i+2) for the i-th channel, so
	// φ(c) = w(0)·p({c}) − w(1)·Σ_{d≠c} p({d}), with w(0) = 1/20 and
	// w(1) = 1/(20·19).
	e.Attribute(attribution.Conversion{TimeMs: convMs, RevenueMicros: 1_000_000}, tps[1:], attribution.NoReset, &r)
	p := func(i int) float64 { return float64(i+1) / float64(i+2) }
	var sum float64
	for i := 1; i <= 20; i++ {
		sum += p(i)
	}
	phi := make([]float64, 21)
	var pos float64
	for i := 1; i <= 20; i++ {
		phi[i] = max(p(i)/20-(sum-p(i))/380, 0)
		pos += phi[i]
	}
	for k, c := range r.Credits {
		i := k + 1
		if want := phi[i] / pos; !near(c.Fraction, want) {
			t.Errorf("channel %s: %v, want %v", chans[i], c.Fraction, want)
		}
	}
}
