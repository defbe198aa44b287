package attribution_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// randomFitPaths draws paths over nch channels, with repeats and cycles.
func randomFitPaths(rng *rand.Rand, nch, npaths, maxLen int) attribution.FitPaths {
	channels := []string{"direct", "email", "paid_search", "display", "social", "affiliate", "referral", "organic_search"}
	in := attribution.FitPaths{FromMs: 1, ToMs: 2}
	for range npaths {
		p := attribution.FitPath{Conversions: uint64(rng.IntN(4)), Nulls: uint64(rng.IntN(6))}
		for range 1 + rng.IntN(maxLen) {
			p.Channels = append(p.Channels, channels[rng.IntN(nch)])
		}
		in.Paths = append(in.Paths, p)
	}
	in.Paths = append(in.Paths, attribution.FitPath{Channels: []string{"direct"}, Conversions: 1})
	return in
}

// reshuffle returns the same paths in another order, some split in two
// rows whose counts add up: a fit must not see the difference.
func reshuffle(rng *rand.Rand, in attribution.FitPaths) attribution.FitPaths {
	out := attribution.FitPaths{FromMs: in.FromMs, ToMs: in.ToMs}
	for _, p := range in.Paths {
		if p.Conversions > 1 && rng.IntN(2) == 0 {
			half := p
			half.Conversions /= 2
			half.Nulls = 0
			p.Conversions -= half.Conversions
			out.Paths = append(out.Paths, half)
		}
		out.Paths = append(out.Paths, p)
	}
	rng.Shuffle(len(out.Paths), func(i, j int) { out.Paths[i], out.Paths[j] = out.Paths[j], out.Paths[i] })
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFitsDeterministic: the fits are byte-for-byte the same whatever the
// order and grouping of their input paths.
func TestFitsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	for iter := range 100 {
		in := randomFitPaths(rng, 2+rng.IntN(7), 1+rng.IntN(60), 8)
		order := 1 + iter%4
		m1, err := attribution.FitMarkov(in, order)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := attribution.FitMarkov(reshuffle(rng, in), order)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustJSON(t, m1), mustJSON(t, m2); a != b {
			t.Fatalf("iteration %d: markov fit depends on the input order:\n%s\n%s", iter, a, b)
		}
		s1, err := attribution.FitShapley(in)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := attribution.FitShapley(reshuffle(rng, in))
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustJSON(t, s1), mustJSON(t, s2); a != b {
			t.Fatalf("iteration %d: shapley fit depends on the input order:\n%s\n%s", iter, a, b)
		}
	}
}

// TestShapleyDefinition compares every φ of random fits with the
// definition computed naively: p from the paths, a sum over T ⊆ S∖{c}.
func TestShapleyDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 3))
	for iter := range 100 {
		in := randomFitPaths(rng, 2+rng.IntN(7), 1+rng.IntN(80), 8)
		f, err := attribution.FitShapley(in)
		if err != nil {
			t.Fatal(err)
		}
		conv, total := map[string]float64{}, map[string]float64{}
		key := func(set []string) string {
			s := slices.Clone(set)
			slices.Sort(s)
			return strings.Join(slices.Compact(s), ",")
		}
		for _, p := range in.Paths {
			k := key(p.Channels)
			conv[k] += float64(p.Conversions)
			total[k] += float64(p.Conversions + p.Nulls)
		}
		p := func(set []string) float64 {
			k := key(set)
			if total[k] == 0 {
				return 0
			}
			return conv[k] / total[k]
		}
		fact := func(n int) float64 { return math.Gamma(float64(n + 1)) }
		for _, s := range f.Sets {
			if s.Conversions == 0 {
				if s.Phi != nil {
					t.Errorf("set %v: φ for a set without conversions", s.Channels)
				}
				continue
			}
			n := len(s.Channels)
			var sum float64
			for ci, c := range s.Channels {
				var others []string
				for _, o := range s.Channels {
					if o != c {
						others = append(others, o)
					}
				}
				var want float64
				for mask := 0; mask < 1<<len(others); mask++ {
					var tset []string
					for b, o := range others {
						if mask&(1<<b) != 0 {
							tset = append(tset, o)
						}
					}
					w := fact(len(tset)) * fact(n-len(tset)-1) / fact(n)
					want += w * (p(append(slices.Clone(tset), c)) - p(tset))
				}
				if math.Abs(s.Phi[ci]-want) > 1e-12 {
					t.Errorf("iteration %d: set %v: φ(%s) = %.17g, definition %.17g", iter, s.Channels, c, s.Phi[ci], want)
				}
				sum += s.Phi[ci]
			}
			// Efficiency: the values share p(S) − p(∅) = p(S).
			if math.Abs(sum-s.P) > 1e-12 {
				t.Errorf("iteration %d: set %v: φ sum to %.17g, p(S) = %.17g", iter, s.Channels, sum, s.P)
			}
		}
	}
}

// TestDataDrivenProperties: with fits of random paths, the data-driven
// models owe what every model owes: shares >= 0 summing to 1, revenue
// summing exactly, the same result whatever the order of the touchpoints.
func TestDataDrivenProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 4))
	for iter := range 500 {
		in := randomFitPaths(rng, 2+rng.IntN(4), 1+rng.IntN(40), 6)
		m, err := attribution.FitMarkov(in, 1+rng.IntN(4))
		if err != nil {
			t.Fatal(err)
		}
		s, err := attribution.FitShapley(in)
		if err != nil {
			t.Fatal(err)
		}
		cfg := randomConfig(rng)
		cfg.Models = []string{"markov", "shapley", "linear"}
		if rng.IntN(2) == 0 {
			cfg.Models = []string{"shapley", "markov"}
		}
		e := newEngine(t, cfg)
		if err := e.SetFits(attribution.Fits{Markov: m, Shapley: s}); err != nil {
			t.Fatal(err)
		}
		tps := randomTouchpoints(rng)
		conv := attribution.Conversion{ID: "c", TimeMs: convMs, RevenueMicros: randomRevenue(rng)}
		var j attribution.Journey
		for _, tp := range tps {
			j.Add(tp)
		}
		var r attribution.Result
		e.Attribute(conv, j.Touchpoints(), attribution.NoReset, &r)
		rows := max(len(r.Path), 1)
		if len(r.Credits) != rows*len(cfg.Models) {
			t.Fatalf("iteration %d: %d credits, want %d per model", iter, len(r.Credits), rows)
		}
		for k := range cfg.Models {
			var sum float64
			var micros int64
			for _, c := range r.Credits[k*rows : (k+1)*rows] {
				if c.Model != k || c.Fraction < 0 || c.RevenueMicros < 0 || math.IsNaN(c.Fraction) {
					t.Fatalf("iteration %d: %s: bad credit %+v", iter, cfg.Models[k], c)
				}
				sum += c.Fraction
				micros += c.RevenueMicros
			}
			if math.Abs(sum-1) > 1e-9 || micros != conv.RevenueMicros {
				t.Fatalf("iteration %d: %s: fractions sum to %v, revenue to %d of %d", iter, cfg.Models[k], sum, micros, conv.RevenueMicros)
			}
		}
		shuffled := slices.Clone(tps)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		var j2 attribution.Journey
		for _, tp := range shuffled {
			j2.Add(tp)
		}
		var r2 attribution.Result
		e.Attribute(conv, j2.Touchpoints(), attribution.NoReset, &r2)
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("iteration %d: result depends on input order", iter)
		}
	}
}

// TestSkippedWithoutFit: a data-driven model without a fit gives no rows
// and is counted; the others are unaffected; a fit swapped in applies from
// the next conversion; an invalid fit changes nothing.
func TestSkippedWithoutFit(t *testing.T) {
	e := newEngine(t, attribution.Config{Models: []string{"linear", "markov", "shapley"}})
	tps := []attribution.Touchpoint{click("a", 2*day, "A"), click("b", day, "B")}
	conv := attribution.Conversion{TimeMs: convMs, RevenueMicros: 10}
	var r attribution.Result
	e.Attribute(conv, tps, attribution.NoReset, &r)
	e.Attribute(conv, nil, attribution.NoReset, &r) // the unattributed row
	if len(r.Credits) != 1 || r.Credits[0].Model != 0 {
		t.Fatalf("credits %+v, want linear's unattributed row only", r.Credits)
	}
	if s := e.Stats(1); s.Skipped != 2 {
		t.Errorf("markov stats %+v, want 2 skipped", s)
	}
	if id := e.FitID(1); id != "" {
		t.Errorf("FitID = %q without a fit", id)
	}
	bad := &attribution.MarkovFit{FitSummary: attribution.FitSummary{Model: "markov"}, Order: 1,
		Effects: []attribution.MarkovEffect{{Channel: "A", RemovalEffect: math.NaN()}}}
	if err := e.SetFits(attribution.Fits{Markov: bad}); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Fatalf("SetFits(NaN effect) = %v, want an error", err)
	}
	m, err := attribution.FitMarkov(handPaths, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.ID = "m1"
	if err := e.SetFits(attribution.Fits{Markov: m}); err != nil {
		t.Fatal(err)
	}
	e.Attribute(conv, tps, attribution.NoReset, &r)
	var models []int
	for _, c := range r.Credits {
		models = append(models, c.Model)
	}
	if !slices.Equal(models, []int{0, 0, 1, 1}) || r.Credits[2].RevenueMicros != 6 || r.Credits[3].RevenueMicros != 4 {
		t.Fatalf("credits %+v, want linear and markov (6/4) rows", r.Credits)
	}
	if e.FitID(1) != "m1" || e.FitID(2) != "" || e.Stats(2).Skipped != 3 {
		t.Errorf("FitID %q/%q, shapley stats %+v", e.FitID(1), e.FitID(2), e.Stats(2))
	}
	// Unsetting skips again.
	if err := e.SetFits(attribution.Fits{}); err != nil {
		t.Fatal(err)
	}
	e.Attribute(conv, tps, attribution.NoReset, &r)
	if len(r.Credits) != 2 {
		t.Errorf("credits %+v after unsetting the fit, want linear's only", r.Credits)
	}
}

// TestDataDrivenZeroAllocs: the data-driven models keep the engine's hot
// path free of allocations once warm.
func TestDataDrivenZeroAllocs(t *testing.T) {
	m, s := benchFits(t)
	e := newEngine(t, attribution.Config{Models: append(slices.Clone(attribution.ModelNames), attribution.DataDrivenModelNames...)})
	if err := e.SetFits(attribution.Fits{Markov: m, Shapley: s}); err != nil {
		t.Fatal(err)
	}
	long, short := benchPath(200), benchPath(5)
	// A path whose channel set the fit did not see converting: φ computed.
	odd := benchPath(3)
	odd[0].Channel, odd[1].Channel, odd[2].Channel = "unseen", "email", "referral"
	conv := attribution.Conversion{ID: "c", TimeMs: benchConvMs, RevenueMicros: 100_000_001}
	var r attribution.Result
	e.Attribute(conv, long, attribution.NoReset, &r)
	e.Attribute(conv, odd, attribution.NoReset, &r)
	for _, tc := range []struct {
		name string
		tps  []attribution.Touchpoint
	}{{"200 touchpoints", long}, {"5 touchpoints", short}, {"unseen set", odd}, {"none in window", nil}} {
		if n := testing.AllocsPerRun(100, func() { e.Attribute(conv, tc.tps, attribution.NoReset, &r) }); n != 0 {
			t.Errorf("%s: %v allocations per conversion, want 0", tc.name, n)
		}
	}
}

func benchFits(t testing.TB) (*attribution.MarkovFit, *attribution.ShapleyFit) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	in := attribution.FitPaths{}
	for range 2000 {
		p := attribution.FitPath{Conversions: uint64(rng.IntN(3)), Nulls: uint64(rng.IntN(8))}
		for range 1 + rng.IntN(6) {
			p.Channels = append(p.Channels, benchChannels[rng.IntN(len(benchChannels))])
		}
		in.Paths = append(in.Paths, p)
	}
	m, err := attribution.FitMarkov(in, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attribution.FitShapley(in)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestWeightsWithoutFit: called directly, without a fit, the data-driven
// models credit linearly rather than fail.
func TestWeightsWithoutFit(t *testing.T) {
	path := []attribution.Touchpoint{click("a", 2*day, "A"), click("b", day, "B")}
	for _, m := range []attribution.Model{&attribution.Markov{}, &attribution.Shapley{}} {
		w := make([]float64, 2)
		m.Weights(attribution.Conversion{}, path, w)
		if w[0] != 0.5 || w[1] != 0.5 {
			t.Errorf("%s without a fit: %v, want linear", m.Name(), w)
		}
	}
}
