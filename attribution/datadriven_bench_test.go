package attribution_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// fitBenchPaths returns n path rows over the 7 benchmark channels, 1 to 8
// touches each, about one in four converting: what a GROUP BY over a large
// window returns (most rows distinct, a few counted many times).
func fitBenchPaths(n int) attribution.FitPaths {
	rng := rand.New(rand.NewPCG(2024, 15))
	in := attribution.FitPaths{Paths: make([]attribution.FitPath, n)}
	for i := range in.Paths {
		l := 1 + rng.IntN(8)
		chans := make([]string, l)
		for k := range chans {
			chans[k] = benchChannels[rng.IntN(len(benchChannels))]
		}
		p := attribution.FitPath{Channels: chans, Nulls: 1 + uint64(rng.IntN(3))}
		if rng.IntN(4) == 0 {
			p.Conversions = 1 + uint64(rng.IntN(2))
		}
		in.Paths[i] = p
	}
	return in
}

// BenchmarkFit measures a fit of 1M path rows (run with -benchtime=1x:
// one fit is seconds).
func BenchmarkFit(b *testing.B) {
	in := fitBenchPaths(1_000_000)
	for _, order := range []int{1, 2, 3, 4} {
		b.Run(fmt.Sprintf("markov/order=%d", order), func(b *testing.B) {
			var f *attribution.MarkovFit
			for b.Loop() {
				var err error
				if f, err = attribution.FitMarkov(in, order); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(f.States)), "states")
			b.ReportMetric(float64(f.DistinctPaths), "distinct_paths")
		})
	}
	b.Run("shapley", func(b *testing.B) {
		var f *attribution.ShapleyFit
		for b.Loop() {
			var err error
			if f, err = attribution.FitShapley(in); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(f.Sets)), "sets")
	})
}

// BenchmarkAttributeDataDriven measures Engine.Attribute with the
// data-driven models, alone and beside the six rule-based ones.
func BenchmarkAttributeDataDriven(b *testing.B) {
	m, s := benchFits(b)
	all := append(slices.Clone(attribution.ModelNames), attribution.DataDrivenModelNames...)
	for _, models := range [][]string{{"markov"}, {"shapley"}, all} {
		name := models[0]
		if len(models) > 1 {
			name = "all8"
		}
		for _, n := range []int{5, 20} {
			b.Run(fmt.Sprintf("%s/tps=%d", name, n), func(b *testing.B) {
				path := benchPath(n)
				e, err := attribution.NewEngine(attribution.Config{Models: models})
				if err != nil {
					b.Fatal(err)
				}
				if err := e.SetFits(attribution.Fits{Markov: m, Shapley: s}); err != nil {
					b.Fatal(err)
				}
				var r attribution.Result
				e.Attribute(benchConv, path, attribution.NoReset, &r)
				b.ReportAllocs()
				for b.Loop() {
					e.Attribute(benchConv, path, attribution.NoReset, &r)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conversions/s")
			})
		}
	}
}
