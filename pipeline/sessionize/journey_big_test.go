package sessionize

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// all returns every touchpoint of j, in order, as the engine takes them.
func (j *journey) all(dims *dimTable) []attribution.Touchpoint {
	var out []attribution.Touchpoint
	for i := range j.len() {
		r := j.rec(i)
		d := dims.get(le.Uint32(r[recDim:]) & dimMask)
		out = append(out, attribution.Touchpoint{
			ID: j.id(i), TimeMs: j.timeMs(i), Impression: d.impression,
			Channel: d.channel, Source: d.source, Medium: d.medium, Campaign: d.campaign,
		})
	}
	return out
}

// The journey tests again with every journey of two touchpoints or more
// indexed (bigJourney): the long-journey representation must behave
// exactly like the short one and like attribution.Journey.
func TestJourneyBigRepresentation(t *testing.T) {
	defer func(n int) { bigJourneyAt = n }(bigJourneyAt)
	bigJourneyAt = 2
	t.Run("matches attribution.Journey", TestJourneyMatchesAttributionJourney)
	t.Run("encoding edges", TestJourneyEncodingEdges)
	t.Run("session start", TestJourneySessionStart)
	t.Run("latest", TestJourneyLatestMatchesEngine)
	t.Run("earliest copy wins", TestJourneyEarliestCopyWins)
	t.Run("copies in any order", TestJourneyCopiesInAnyOrder)
}

// The shard hands the engine only the latest touchpoints a conversion can
// credit; the engine must credit them exactly as it credits the whole
// journey (what replay hands it), with and without reset on conversion,
// capped or not.
func TestJourneyLatestMatchesEngine(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for round := range 200 {
		cfg := attribution.Config{
			Lookback: 100, ViewWindow: 30, MaxPathTouchpoints: 1 + rng.IntN(12), ResetOnConversion: round%2 == 1,
		}
		// Durations in ms: the config takes time.Duration.
		cfg.Lookback *= 1e6
		cfg.ViewWindow *= 1e6
		eng, err := attribution.NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dims := newDimTable()
		var ref attribution.Journey
		j := newJourney("k")
		for i := range rng.IntN(200) {
			tp := attribution.Touchpoint{ID: fmt.Sprint("t", rng.IntN(300)), TimeMs: int64(rng.IntN(400)), Impression: rng.IntN(3) == 0, Channel: fmt.Sprint("c", i%3)}
			j.add(&tp, dims)
			ref.Add(tp)
		}
		for range 5 {
			conv := attribution.Conversion{ID: "cv", TimeMs: int64(rng.IntN(450)), RevenueMicros: 1_000_000}
			after := int64(attribution.NoReset)
			if cfg.ResetOnConversion {
				after = conv.TimeMs - int64(rng.IntN(150))
			}
			var want, got attribution.Result
			eng.Attribute(conv, ref.Touchpoints(), after, &want)
			lo := conv.TimeMs - eng.LookbackMs()
			if after != attribution.NoReset && after >= lo {
				lo = after + 1
			}
			path := j.latest(lo, conv.TimeMs, eng.MaxPath(), eng, dims, nil)
			eng.Attribute(conv, path, after, &got)
			if !reflect.DeepEqual(got, want) && !(len(got.Path) == 0 && len(want.Path) == 0 && reflect.DeepEqual(got.Credits, want.Credits)) {
				t.Fatalf("round %d conv %d after %d: shard path %v capped %v\nwant %v capped %v", round, conv.TimeMs, after, got.Path, got.Capped, want.Path, want.Capped)
			}
			if len(path) > eng.MaxPath()+1 {
				t.Fatalf("latest handed %d touchpoints, cap %d", len(path), eng.MaxPath())
			}
		}
	}
}
