package attribution_test

import (
	"testing"

	"github.com/attributor/attributor/attribution"
)

func TestPositionBased(t *testing.T) {
	five := []attribution.Touchpoint{
		click("t1", 20*day, "display"), click("t2", 15*day, "email"), click("t3", 10*day, "social"),
		click("t4", 5*day, "referral"), click("t5", hour, "paid_search")}
	four := five[:4]
	runModelCases(t, "position_based", []modelCase{
		{name: "one click gets everything", tps: []attribution.Touchpoint{click("a", day, "email")},
			path: []string{"a"}, want: []float64{1}, micros: []int64{100_000_000}},
		{name: "two clicks share 50/50", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", 2*day, "paid_search")},
			path: []string{"a", "b"}, want: []float64{0.5, 0.5}, micros: []int64{50_000_000, 50_000_000}},
		{name: "three clicks 40/20/40", tps: []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{0.4, 0.2, 0.4}, micros: []int64{40_000_000, 20_000_000, 40_000_000}},
		{name: "five clicks: the middle splits 20%", tps: five,
			path: []string{"t1", "t2", "t3", "t4", "t5"}, want: []float64{0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4},
			micros: []int64{40_000_000, 6_666_667, 6_666_667, 6_666_666, 40_000_000}},
		{name: "custom shares over two", cfg: attribution.Config{FirstShare: 0.3, LastShare: 0.5}, tps: four[:2],
			path: []string{"t1", "t2"}, want: []float64{0.375, 0.625}},
		{name: "custom shares over four", cfg: attribution.Config{FirstShare: 0.3, LastShare: 0.5}, tps: four,
			path: []string{"t1", "t2", "t3", "t4"}, want: []float64{0.3, 0.1, 0.1, 0.5}},
		{name: "ends take everything, the middle still gets rows", cfg: attribution.Config{FirstShare: 0.5, LastShare: 0.5}, tps: four,
			path: []string{"t1", "t2", "t3", "t4"}, want: []float64{0.5, 0, 0, 0.5}, micros: []int64{50_000_000, 0, 0, 50_000_000}},
		{name: "ties on timestamp ordered by id", tps: []attribution.Touchpoint{click("c", day, "email"), click("a", day, "display"), click("b", day, "social")},
			path: []string{"a", "b", "c"}, want: []float64{0.4, 0.2, 0.4}},
		{name: "lookback edges", tps: []attribution.Touchpoint{click("out", 30*day+ms, "display"), click("edge", 30*day, "email"), click("mid", day, "social"), click("now", 0, "direct"), click("late", -ms, "email")},
			path: []string{"edge", "mid", "now"}, want: []float64{0.4, 0.2, 0.4}},
		{name: "all direct", tps: []attribution.Touchpoint{click("a", 2*day, "direct"), click("b", day, "direct"), click("c", hour, "direct")},
			path: []string{"a", "b", "c"}, want: []float64{0.4, 0.2, 0.4}},
		{name: "impression in the view window is a position, an older one is not", tps: []attribution.Touchpoint{click("c1", 5*day, "email"), imp("old", 2*day, "display"), imp("i", hour, "display"), click("c2", 0, "paid_search")},
			path: []string{"c1", "i", "c2"}, want: []float64{0.4, 0.2, 0.4}},
		{name: "impression-only path", tps: []attribution.Touchpoint{imp("i1", 20*hour, "display"), imp("i2", 10*hour, "paid_social")},
			path: []string{"i1", "i2"}, want: []float64{0.5, 0.5}},
	})
}
