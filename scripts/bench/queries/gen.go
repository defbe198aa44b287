package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/attributor/attributor/attribution"
)

// genConfig describes the generated conversions. The same config gives the
// same conversions, touchpoints and versions.
type genConfig struct {
	Seed        int64
	Conversions int
	Start       time.Time // first conversion day (UTC)
	Days        int       // conversions spread evenly over this many days
	// Reattributed is the share of conversions credited more than once:
	// late touchpoints arrived after the first attribution, each one a new
	// version. A fifth of them are credited three times.
	Reattributed float64
}

// placement is a channel's source/medium pair with its campaigns, modelled
// on pipeline/generate's traffic profile.
type placement struct {
	channel, source, medium string
	weight                  float64
	impressions             float64 // share of its touchpoints that are impressions
	campaigns               []string
}

var placements = []placement{
	{"paid_search", "google", "cpc", 17, 0, []string{"brand", "generic", "black_friday", "competitors"}},
	{"paid_search", "bing", "cpc", 3, 0, []string{"brand", "generic", "black_friday"}},
	{"paid_social", "facebook", "paid_social", 8, 0.35, []string{"prospecting", "retargeting", "black_friday"}},
	{"paid_social", "instagram", "cpc", 5, 0.35, []string{"prospecting", "retargeting", "black_friday"}},
	{"display", "gdn", "display", 9, 0.9, []string{"prospecting", "retargeting", "black_friday"}},
	{"display", "programmatic", "cpm", 9, 0.92, []string{"prospecting", "retargeting"}},
	{"affiliate", "awin", "affiliate", 6, 0, []string{"cashback", "voucher_codes", "content"}},
	{"email", "newsletter", "email", 12, 0, []string{"newsletter_w47", "newsletter_w48", "black_friday_early_access", "cart_reminder"}},
	{"organic_search", "google", "organic", 11, 0, nil},
	{"organic_search", "bing", "organic", 1, 0, nil},
	{"social", "facebook", "social", 4, 0, nil},
	{"social", "instagram", "social", 2, 0, nil},
	{"referral", "blog.example.com", "referral", 2, 0, nil},
	{"referral", "deals.example.org", "referral", 1.5, 0, nil},
	{"direct", "(direct)", "(none)", 14, 0, nil},
}

var placementTotal = func() float64 {
	t := 0.0
	for _, p := range placements {
		t += p.weight
	}
	return t
}()

const (
	noTouchShare = 0.05 // conversions with no touchpoint in their window
	signupShare  = 0.10 // conversions without revenue
	maxPath      = 20
	dayMs        = 24 * 3600 * 1000
)

// genConv is one generated conversion with its final path. Its versions
// see the path without its late touchpoints: version k (0-based) lacks
// Late[k:], so that the last version sees the whole path.
type genConv struct {
	ID, Type, UserKey string
	TimeMs, Revenue   int64
	Path              []attribution.Touchpoint // sorted by (TimeMs, ID)
	Late              []int                    // indexes into Path, in arrival order
}

// Versions returns how many times the conversion is credited.
func (c *genConv) Versions() int { return len(c.Late) + 1 }

// visible returns the touchpoints version k sees, appended to dst.
func (c *genConv) visible(k int, dst []attribution.Touchpoint) []attribution.Touchpoint {
	missing := c.Late[k:]
	for i := range c.Path {
		if !slices.Contains(missing, i) {
			dst = append(dst, c.Path[i])
		}
	}
	return dst
}

// Version returns the stored version number of version k: as the
// attributor counts it, the events the path was computed from (the
// conversion and the touchpoints it saw), so that a later version with a
// late touchpoint is higher.
func (c *genConv) Version(k int) uint32 { return uint32(1 + len(c.Path) - len(c.Late) + k) }

// gen makes the i-th conversion of cfg. Conversion i happens at
// Start + i*Days/Conversions (plus jitter): the stream is in time order.
func gen(cfg genConfig, i int) genConv {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
	spanMs := int64(cfg.Days) * dayMs
	at := cfg.Start.UnixMilli() + int64(float64(i)/float64(cfg.Conversions)*float64(spanMs)) + rng.Int64N(60_000)
	c := genConv{
		ID:      uuid(rng),
		UserKey: fmt.Sprintf("u%09d", rng.IntN(max(1, cfg.Conversions*2/3))),
		TimeMs:  at,
		Type:    "purchase",
	}
	if rng.Float64() < signupShare {
		c.Type = "signup"
	} else {
		c.Revenue = max(1_000_000, int64(math.Round(math.Exp(math.Log(60)+0.8*rng.NormFloat64())*100))*10_000)
	}
	n := 0
	if rng.Float64() >= noTouchShare {
		n = 1 + min(maxPath-1, geometric(rng, 0.35))
	}
	for range n {
		p := &placements[weighted(rng)]
		tp := attribution.Touchpoint{ID: uuid(rng), Channel: p.channel, Source: p.source, Medium: p.medium}
		if len(p.campaigns) > 0 {
			tp.Campaign = p.campaigns[rng.IntN(len(p.campaigns))]
		}
		if rng.Float64() < p.impressions {
			// Within the 1-day view-through window.
			tp.Impression = true
			tp.TimeMs = at - 1 - rng.Int64N(20*3600*1000)
		} else {
			// Within the 30-day lookback window, most within days.
			tp.TimeMs = at - 1 - min(29*dayMs, int64(math.Exp(math.Log(2*dayMs)+1.2*rng.NormFloat64())))
		}
		c.Path = append(c.Path, tp)
	}
	slices.SortFunc(c.Path, func(a, b attribution.Touchpoint) int {
		if a.TimeMs != b.TimeMs {
			return int(a.TimeMs - b.TimeMs)
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if n > 0 && rng.Float64() < cfg.Reattributed {
		late := 1
		if n > 1 && rng.Float64() < 0.2 {
			late = 2
		}
		for _, k := range rng.Perm(n)[:late] {
			c.Late = append(c.Late, k)
		}
	}
	return c
}

func weighted(rng *rand.Rand) int {
	x := rng.Float64() * placementTotal
	for i, p := range placements {
		if x -= p.weight; x < 0 {
			return i
		}
	}
	return len(placements) - 1
}

func geometric(rng *rand.Rand, p float64) int {
	return int(math.Floor(math.Log(1-rng.Float64()) / math.Log(1-p)))
}

func uuid(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, 0x8000|b>>48&0x3fff, b&0xffffffffffff)
}
