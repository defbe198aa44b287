package attribution_test

import (
	"fmt"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// benchConvMs is the time of the benchmark conversion: 2023-11-14T22:13:20Z.
const benchConvMs int64 = 1_700_000_000_000

var benchChannels = []string{"paid_search", "email", "display", "organic_search", "paid_social", "direct", "referral"}

// benchPath returns n touchpoints of one user, sorted, all inside the
// default windows of a conversion at benchConvMs: clicks spread over the
// last 29 days, and every fourth touchpoint of the last day an impression.
func benchPath(n int) []attribution.Touchpoint {
	var j attribution.Journey
	for i := 0; i < n; i++ {
		age := int64(n-i) * 29 * day / int64(n+1)
		tp := attribution.Touchpoint{
			ID:       fmt.Sprintf("tp-%03d", i),
			TimeMs:   benchConvMs - age,
			Channel:  benchChannels[i%len(benchChannels)],
			Source:   "src",
			Medium:   "med",
			Campaign: "spring",
		}
		if age < day && i%4 == 0 {
			tp.Impression = true
		}
		j.Add(tp)
	}
	return j.Touchpoints()
}

var benchConv = attribution.Conversion{ID: "conv-1", TimeMs: benchConvMs, RevenueMicros: 129_990_000}

// BenchmarkModel measures each model alone over a 5-touch path.
func BenchmarkModel(b *testing.B) {
	path := benchPath(5)
	e, err := attribution.NewEngine(attribution.Config{})
	if err != nil {
		b.Fatal(err)
	}
	w := make([]float64, len(path))
	for _, m := range e.Models() {
		b.Run(m.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Weights(benchConv, path, w)
			}
		})
	}
}

// BenchmarkAttribute measures Engine.Attribute with all six models, one
// conversion per operation, after warm-up.
func BenchmarkAttribute(b *testing.B) {
	for _, n := range []int{1, 5, 20, 100} {
		b.Run(fmt.Sprintf("tps=%d", n), func(b *testing.B) {
			path := benchPath(n)
			e, err := attribution.NewEngine(attribution.Config{MaxPathTouchpoints: n}) // the whole path, as before the cap
			if err != nil {
				b.Fatal(err)
			}
			var r attribution.Result
			e.Attribute(benchConv, path, attribution.NoReset, &r)
			if len(r.Path) != n {
				b.Fatalf("path has %d touchpoints, want %d", len(r.Path), n)
			}
			b.ReportAllocs()
			for b.Loop() {
				e.Attribute(benchConv, path, attribution.NoReset, &r)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conversions/s")
		})
	}
}
