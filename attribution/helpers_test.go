package attribution_test

import (
	"math"
	"slices"
	"testing"

	"github.com/attributor/attributor/attribution"
)

const (
	ms   int64 = 1
	hour int64 = 60 * 60 * 1000
	day  int64 = 24 * hour
	// convMs is the time of the conversions of the model tables:
	// 2024-03-01T12:00:00Z.
	convMs int64 = 1_709_294_400_000
)

// click returns a click touchpoint age ms before convMs.
func click(id string, age int64, channel string) attribution.Touchpoint {
	return attribution.Touchpoint{ID: id, TimeMs: convMs - age, Channel: channel}
}

// imp returns an impression touchpoint age ms before convMs.
func imp(id string, age int64, channel string) attribution.Touchpoint {
	return attribution.Touchpoint{ID: id, TimeMs: convMs - age, Channel: channel, Impression: true}
}

// modelCase is one row of a model table: touchpoints (in any order) and a
// conversion at convMs, the path the engine must cut, and the fractions the
// model must give it.
type modelCase struct {
	name    string
	cfg     attribution.Config // Models is set by runModelCases
	tps     []attribution.Touchpoint
	revenue int64     // micros; default 100_000_000
	path    []string  // expected path, by ID; empty: the unattributed row
	want    []float64 // expected fraction per path position
	micros  []int64   // expected revenue split, when the case checks it
	fits    *attribution.Fits
}

// runModelCases runs each case through a Journey and an Engine holding only
// model, and checks path, fractions (within 1e-12), revenue split and the
// invariants every model owes: fractions >= 0 summing to 1 and revenue shares
// summing exactly to the revenue.
func runModelCases(t *testing.T, model string, cases []modelCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Models = []string{model}
			e, err := attribution.NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.fits != nil {
				if err := e.SetFits(*tc.fits); err != nil {
					t.Fatal(err)
				}
			}
			var j attribution.Journey
			for _, tp := range tc.tps {
				j.Add(tp)
			}
			rev := tc.revenue
			if rev == 0 {
				rev = 100_000_000
			}
			conv := attribution.Conversion{ID: "conv", TimeMs: convMs, RevenueMicros: rev}
			var r attribution.Result
			e.Attribute(conv, j.Touchpoints(), attribution.NoReset, &r)

			if got := pathIDs(r.Path); !slices.Equal(got, tc.path) {
				t.Fatalf("path = %q, want %q", got, tc.path)
			}
			if len(tc.path) == 0 {
				want := []attribution.Credit{{Model: 0, Position: 0, Fraction: 1, RevenueMicros: rev}}
				if !slices.Equal(r.Credits, want) {
					t.Fatalf("credits = %+v, want the unattributed row %+v", r.Credits, want)
				}
				return
			}
			if len(r.Credits) != len(tc.path) {
				t.Fatalf("%d credits for a path of %d", len(r.Credits), len(tc.path))
			}
			var sum float64
			var micros int64
			for i, c := range r.Credits {
				if c.Model != 0 || c.Position != i+1 {
					t.Errorf("credit %d: model %d position %d, want 0 and %d", i, c.Model, c.Position, i+1)
				}
				if math.Abs(c.Fraction-tc.want[i]) > 1e-12 {
					t.Errorf("position %d (%s): fraction %.15g, want %.15g", i+1, tc.path[i], c.Fraction, tc.want[i])
				}
				if c.Fraction < 0 || c.RevenueMicros < 0 {
					t.Errorf("position %d: negative credit %+v", i+1, c)
				}
				if tc.micros != nil && c.RevenueMicros != tc.micros[i] {
					t.Errorf("position %d: revenue %d micros, want %d", i+1, c.RevenueMicros, tc.micros[i])
				}
				sum += c.Fraction
				micros += c.RevenueMicros
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("fractions sum to %.17g, want 1", sum)
			}
			if micros != rev {
				t.Errorf("revenue shares sum to %d micros, want %d", micros, rev)
			}
		})
	}
}

func pathIDs(path []attribution.Touchpoint) []string {
	var ids []string
	for _, tp := range path {
		ids = append(ids, tp.ID)
	}
	return ids
}
