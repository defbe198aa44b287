package schemas_test

import (
	"fmt"
	"testing"

	"github.com/attributor/attributor/schemas"
)

var (
	benchTouchpoint = []byte(`{"event_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","user_id":"u-1001","timestamp":"2024-03-15T14:29:59.250Z",` +
		`"interaction":"click","source":"google","medium":"cpc","campaign":"spring-sale","cost":0.42,"page":"/landing?utm_source=google"}`)
	benchConversion = []byte(`{"event_id":"0b7e1d2c-9a51-4c6f-8f0e-3f5a2c1d9e88","user_id":"u-1001","timestamp":1710513000000,` +
		`"conversion_type":"purchase","revenue":249.99,"currency":"EUR","order_id":"A-1234"}`)
)

func BenchmarkDecodeTouchpoint(b *testing.B) {
	d := schemas.NewDecoder(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchTouchpoint)))
	for b.Loop() {
		if _, err := d.Touchpoint(benchTouchpoint); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeConversion(b *testing.B) {
	d := schemas.NewDecoder(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchConversion)))
	for b.Loop() {
		if _, err := d.Conversion(benchConversion); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReference runs the reference decoder (the segmentio/encoding
// one the scanner replaced, see reference_test.go) on the same events, so
// that one run compares the two on the same machine under the same load.
func BenchmarkDecodeReference(b *testing.B) {
	d := schemas.NewDecoder(nil)
	b.Run("touchpoint", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchTouchpoint)))
		for b.Loop() {
			if _, err := d.ReferenceTouchpoint(benchTouchpoint); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("conversion", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchConversion)))
		for b.Loop() {
			if _, err := d.ReferenceConversion(benchConversion); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChannel measures the channel derivation of a decoded touchpoint
// that carries no channel, over a working set of (source, medium) pairs as
// a real stream repeats them; "miss" falls through every rule.
func BenchmarkChannel(b *testing.B) {
	r := schemas.DefaultChannelRules()
	pairs := [][2]string{
		{"google", "cpc"}, {"facebook", "paid_social"}, {"newsletter", "email"}, {"bing", "organic"},
		{"news.example.com", "referral"}, {"", ""}, {"dv360", "display"}, {"partner", "affiliate"},
	}
	b.Run("mix", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := pairs[i%len(pairs)]
			r.Channel(p[0], p[1])
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Channel("some-unknown-source", "unknown-medium")
		}
	})
	// Always-new pairs (more than the memo holds): the cost of matching
	// the rules, plus that of filling the memo.
	distinct := make([][2]string, 10000)
	for i := range distinct {
		distinct[i] = [2]string{fmt.Sprintf("site-%d.example", i), "referral"}
	}
	b.Run("distinct", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := distinct[i%len(distinct)]
			r.Channel(p[0], p[1])
			i++
		}
	})
}

// BenchmarkDecodeOneBlock is BenchmarkDecodeTouchpoint and
// BenchmarkDecodeConversion with Decoder.OneBlock, as the live stream
// decodes.
func BenchmarkDecodeOneBlock(b *testing.B) {
	d := schemas.NewDecoder(nil)
	d.OneBlock = true
	b.Run("touchpoint", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchTouchpoint)))
		for b.Loop() {
			if _, err := d.Touchpoint(benchTouchpoint); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("conversion", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchConversion)))
		for b.Loop() {
			if _, err := d.Conversion(benchConversion); err != nil {
				b.Fatal(err)
			}
		}
	})
}
