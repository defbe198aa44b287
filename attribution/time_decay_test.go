package attribution_test

import (
	"math"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
)

func TestTimeDecay(t *testing.T) {
	runModelCases(t, "time_decay", []modelCase{
		{name: "one click", tps: []attribution.Touchpoint{click("a", 20*day, "email")},
			path: []string{"a"}, want: []float64{1}, micros: []int64{100_000_000}},
		{name: "two clicks one half-life apart", tps: []attribution.Touchpoint{click("b", 0, "email"), click("a", 7*day, "paid_search")},
			path: []string{"a", "b"}, want: []float64{1.0 / 3, 2.0 / 3}, micros: []int64{33_333_333, 66_666_667}},
		{name: "0, 7 and 14 days before: 1/7, 2/7, 4/7", tps: []attribution.Touchpoint{click("a", 14*day, "display"), click("b", 7*day, "email"), click("c", 0, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 7, 2.0 / 7, 4.0 / 7}, micros: []int64{14_285_714, 28_571_429, 57_142_857}},
		{name: "the weights do not depend on the age of the newest touchpoint", tps: []attribution.Touchpoint{click("a", 16*day, "display"), click("b", 9*day, "email"), click("c", 2*day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 7, 2.0 / 7, 4.0 / 7}},
		{name: "four clicks a week apart", tps: []attribution.Touchpoint{click("a", 21*day, "display"), click("b", 14*day, "email"), click("c", 7*day, "social"), click("d", 0, "direct")},
			path: []string{"a", "b", "c", "d"}, want: []float64{1.0 / 15, 2.0 / 15, 4.0 / 15, 8.0 / 15}},
		{name: "half a half-life", tps: []attribution.Touchpoint{click("a", 7*day/2, "display"), click("b", 0, "email")},
			path: []string{"a", "b"}, want: []float64{1 / (1 + math.Sqrt2), math.Sqrt2 / (1 + math.Sqrt2)}},
		{name: "one-day half-life", cfg: attribution.Config{HalfLife: 24 * time.Hour},
			tps:  []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 7, 2.0 / 7, 4.0 / 7}},
		{name: "ties on timestamp share equally, ordered by id", tps: []attribution.Touchpoint{click("z", 7*day, "email"), click("b", 0, "display"), click("a", 0, "social")},
			path: []string{"z", "a", "b"}, want: []float64{1.0 / 5, 2.0 / 5, 2.0 / 5}, micros: []int64{20_000_000, 40_000_000, 40_000_000}},
		{name: "lookback edges", tps: []attribution.Touchpoint{click("out", 30*day+ms, "display"), click("edge", 28*day, "email"), click("now", 0, "direct"), click("late", -ms, "email")},
			path: []string{"edge", "now"}, want: []float64{1.0 / 17, 16.0 / 17}},
		{name: "all direct", tps: []attribution.Touchpoint{click("a", 7*day, "direct"), click("b", 0, "direct")},
			path: []string{"a", "b"}, want: []float64{1.0 / 3, 2.0 / 3}},
		{name: "impression in the view window, an older one out", tps: []attribution.Touchpoint{click("c", 7*day, "email"), imp("i", 0, "display"), imp("old", 2*day, "display")},
			path: []string{"c", "i"}, want: []float64{1.0 / 3, 2.0 / 3}},
		{name: "impression-only path", cfg: attribution.Config{HalfLife: 12 * time.Hour},
			tps:  []attribution.Touchpoint{imp("i1", 12*hour, "display"), imp("i2", 0, "paid_social")},
			path: []string{"i1", "i2"}, want: []float64{1.0 / 3, 2.0 / 3}},
		{name: "a path many half-lives long does not underflow", cfg: attribution.Config{HalfLife: time.Millisecond},
			tps:  []attribution.Touchpoint{click("a", 29*day, "display"), click("b", 29*day, "email")},
			path: []string{"a", "b"}, want: []float64{0.5, 0.5}, micros: []int64{50_000_000, 50_000_000}},
	})
}
