package generate

// placement is where a touchpoint comes from: a source/medium pair of a
// channel, with its pricing.
type placement struct {
	source, medium string
	weight         float64  // share within the channel
	impressions    float64  // probability that a touchpoint here is an impression
	cpc            float64  // a click costs 0.20 to cpc, uniformly; 0: unpaid
	cpm            bool     // impressions are bought: 0.002–0.01 each
	campaigns      []string // empty: no campaign
}

// channel is one channel of the default grouping and its traffic profile.
type channel struct {
	name       string
	acquire    float64 // weight as a user's first touchpoint
	revisit    float64 // weight as a later touchpoint
	propensity float64 // contribution of a click to the chance of converting
	basket     float64 // shift of the log revenue when in the path
	placements []placement
}

// channels drive the traffic. Every source/medium pair maps to its channel
// under schemas.DefaultChannelRules, so touchpoints may omit "channel".
var channels = []channel{
	{name: "paid_search", acquire: 20, revisit: 15, propensity: 0.50, basket: 0.15, placements: []placement{
		{source: "google", medium: "cpc", weight: 85, cpc: 3.0, campaigns: []string{"brand", "generic", "black_friday", "competitors"}},
		{source: "bing", medium: "cpc", weight: 15, cpc: 2.0, campaigns: []string{"brand", "generic", "black_friday"}},
	}},
	{name: "paid_social", acquire: 15, revisit: 10, propensity: 0.22, basket: -0.05, placements: []placement{
		{source: "facebook", medium: "paid_social", weight: 60, impressions: 0.35, cpc: 1.5, cpm: true, campaigns: []string{"prospecting", "retargeting", "black_friday"}},
		{source: "instagram", medium: "cpc", weight: 40, impressions: 0.35, cpc: 1.2, cpm: true, campaigns: []string{"prospecting", "retargeting", "black_friday"}},
	}},
	{name: "display", acquire: 20, revisit: 18, propensity: 0.10, basket: -0.10, placements: []placement{
		{source: "gdn", medium: "display", weight: 50, impressions: 0.9, cpc: 1.0, cpm: true, campaigns: []string{"prospecting", "retargeting", "black_friday"}},
		{source: "programmatic", medium: "cpm", weight: 50, impressions: 0.92, cpc: 0.8, cpm: true, campaigns: []string{"prospecting", "retargeting"}},
	}},
	{name: "affiliate", acquire: 6, revisit: 6, propensity: 0.65, basket: -0.20, placements: []placement{
		{source: "awin", medium: "affiliate", weight: 100, campaigns: []string{"cashback", "voucher_codes", "content"}},
	}},
	{name: "email", acquire: 4, revisit: 15, propensity: 0.55, basket: 0.10, placements: []placement{
		{source: "newsletter", medium: "email", weight: 100, campaigns: []string{"newsletter_w47", "newsletter_w48", "black_friday_early_access", "cart_reminder"}},
	}},
	{name: "organic_search", acquire: 15, revisit: 10, propensity: 0.30, basket: 0.05, placements: []placement{
		{source: "google", medium: "organic", weight: 90},
		{source: "bing", medium: "organic", weight: 10},
	}},
	{name: "social", acquire: 7, revisit: 4, propensity: 0.12, basket: -0.10, placements: []placement{
		{source: "facebook", medium: "social", weight: 70},
		{source: "instagram", medium: "social", weight: 30},
	}},
	{name: "referral", acquire: 5, revisit: 3, propensity: 0.25, basket: 0, placements: []placement{
		{source: "blog.example.com", medium: "referral", weight: 50},
		{source: "deals.example.org", medium: "referral", weight: 35},
		{source: "news.example.net", medium: "referral", weight: 15},
	}},
	{name: "direct", acquire: 8, revisit: 19, propensity: 0.35, basket: 0.10, placements: []placement{
		{source: "(direct)", medium: "(none)", weight: 100},
	}},
}

// weighted picks an index with probability proportional to weight(i).
func weighted(u float64, n int, weight func(int) float64) int {
	total := 0.0
	for i := 0; i < n; i++ {
		total += weight(i)
	}
	x := u * total
	for i := 0; i < n; i++ {
		if x -= weight(i); x < 0 {
			return i
		}
	}
	return n - 1
}
