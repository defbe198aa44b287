package attribution_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
)

// randomConfig draws a valid configuration: a random non-empty subset of the
// models in random order, windows from 1 ms to 60 days, shares summing to at
// most 1.
func randomConfig(rng *rand.Rand) attribution.Config {
	names := slices.Clone(attribution.ModelNames)
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	dur := func(max time.Duration) time.Duration {
		return time.Millisecond * time.Duration(1+rng.Int64N(int64(max/time.Millisecond)))
	}
	first := rng.Float64()
	return attribution.Config{
		Models:            names[:1+rng.IntN(len(names))],
		Lookback:          dur(60 * 24 * time.Hour),
		ViewWindow:        dur(3 * 24 * time.Hour),
		HalfLife:          dur(30 * 24 * time.Hour),
		FirstShare:        first,
		LastShare:         rng.Float64() * (1 - first),
		ResetOnConversion: rng.IntN(2) == 0,
	}
}

// randomTouchpoints draws up to 200 touchpoints around convMs, on a coarse
// grid of times so that ties are common, with random channels, some direct,
// and some impressions.
func randomTouchpoints(rng *rand.Rand) []attribution.Touchpoint {
	channels := []string{"direct", "email", "paid_search", "display", "social"}
	n := rng.IntN(201)
	tps := make([]attribution.Touchpoint, n)
	grid := []int64{ms, hour, day}[rng.IntN(3)]
	for i := range tps {
		tps[i] = attribution.Touchpoint{
			ID:         fmt.Sprintf("tp%d", rng.IntN(1000)*1000+i), // unique, in no time order
			TimeMs:     convMs + grid*(rng.Int64N(2*40*day/grid)-40*day/grid),
			Impression: rng.IntN(4) == 0,
			Channel:    channels[rng.IntN(len(channels))],
		}
	}
	return tps
}

func randomRevenue(rng *rand.Rand) int64 {
	switch rng.IntN(5) {
	case 0:
		return 0
	case 1:
		return rng.Int64N(10)
	case 2:
		return rng.Int64N(1e18 + 1)
	}
	return rng.Int64N(1e10)
}

// wantPath is the spec's path, computed naively from an unsorted slice:
// the touchpoints within the windows, the latest MaxPathTouchpoints of them.
func wantPath(cfg attribution.Config, tps []attribution.Touchpoint, convMs, after int64) []attribution.Touchpoint {
	var path []attribution.Touchpoint
	view := min(cfg.ViewWindow, cfg.Lookback).Milliseconds()
	for _, tp := range tps {
		window := cfg.Lookback.Milliseconds()
		if tp.Impression {
			window = view
		}
		if tp.TimeMs <= convMs && tp.TimeMs >= convMs-window && (after == attribution.NoReset || tp.TimeMs > after) {
			path = append(path, tp)
		}
	}
	slices.SortFunc(path, func(a, b attribution.Touchpoint) int {
		if a.TimeMs != b.TimeMs {
			return int(a.TimeMs - b.TimeMs)
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if len(path) > cfg.MaxPathTouchpoints {
		path = path[len(path)-cfg.MaxPathTouchpoints:]
	}
	return path
}

// TestAttributeProperties checks, over random paths, revenues and configs,
// what every consumer of the credits relies on.
func TestAttributeProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240301, 7))
	for iter := 0; iter < 2000; iter++ {
		cfg := randomConfig(rng)
		e, err := attribution.NewEngine(cfg)
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		cfg = e.Config()
		tps := randomTouchpoints(rng)
		conv := attribution.Conversion{ID: "c", TimeMs: convMs, RevenueMicros: randomRevenue(rng)}
		after := int64(attribution.NoReset)
		if cfg.ResetOnConversion {
			after = convMs - rng.Int64N(45*day)
		}

		var j attribution.Journey
		for _, tp := range tps {
			j.Add(tp)
		}
		var r attribution.Result
		e.Attribute(conv, j.Touchpoints(), after, &r)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("iteration %d (cfg %+v, %d touchpoints, revenue %d, after %d): %s",
				iter, cfg, len(tps), conv.RevenueMicros, after, fmt.Sprintf(format, args...))
		}

		want := wantPath(cfg, tps, convMs, after)
		if !slices.Equal(r.Path, want) {
			fail("path %q, want %q", pathIDs(r.Path), pathIDs(want))
		}
		n := len(r.Path)
		rows := max(n, 1)
		if len(r.Credits) != rows*len(cfg.Models) {
			fail("%d credits, want %d per model", len(r.Credits), rows)
		}
		for m := range cfg.Models {
			credits := r.Credits[m*rows : (m+1)*rows]
			var sum float64
			var micros int64
			for i, c := range credits {
				wantPos := i + 1
				if n == 0 {
					wantPos = 0
				}
				if c.Model != m || c.Position != wantPos {
					fail("%s row %d: model %d position %d", cfg.Models[m], i, c.Model, c.Position)
				}
				if c.Fraction < 0 || c.RevenueMicros < 0 {
					fail("%s position %d: negative credit %+v", cfg.Models[m], c.Position, c)
				}
				if c.Fraction == 0 && c.RevenueMicros != 0 {
					fail("%s position %d: revenue %d for no credit", cfg.Models[m], c.Position, c.RevenueMicros)
				}
				// Largest remainder: each share is within a unit of its
				// exact value (plus float64 slop on the weight).
				exact := c.Fraction * float64(conv.RevenueMicros)
				if math.Abs(float64(c.RevenueMicros)-exact) > 1+1e-9*float64(conv.RevenueMicros) {
					fail("%s position %d: revenue %d, exact %.1f", cfg.Models[m], c.Position, c.RevenueMicros, exact)
				}
				sum += c.Fraction
				micros += c.RevenueMicros
			}
			if math.Abs(sum-1) > 1e-9 {
				fail("%s: fractions sum to %.17g", cfg.Models[m], sum)
			}
			if micros != conv.RevenueMicros {
				fail("%s: revenue sums to %d, want %d", cfg.Models[m], micros, conv.RevenueMicros)
			}
		}

		// The same touchpoints in another order, some delivered twice,
		// give the same result.
		shuffled := slices.Clone(tps)
		for i := 0; i < len(tps)/4; i++ {
			shuffled = append(shuffled, tps[rng.IntN(len(tps))])
		}
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		var j2 attribution.Journey
		for _, tp := range shuffled {
			j2.Add(tp)
		}
		var r2 attribution.Result
		e.Attribute(conv, j2.Touchpoints(), after, &r2)
		if !reflect.DeepEqual(r, r2) {
			fail("result depends on input order")
		}
	}
}
