package attribution_test

import (
	"testing"

	"github.com/attributor/attributor/attribution"
)

func TestLinear(t *testing.T) {
	runModelCases(t, "linear", []modelCase{
		{name: "one click", tps: []attribution.Touchpoint{click("a", day, "email")},
			path: []string{"a"}, want: []float64{1}, micros: []int64{100_000_000}},
		{name: "two clicks", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", 2*day, "paid_search")},
			path: []string{"a", "b"}, want: []float64{0.5, 0.5}, micros: []int64{50_000_000, 50_000_000}},
		{name: "three clicks: the odd micro goes to the first", tps: []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, micros: []int64{33_333_334, 33_333_333, 33_333_333}},
		{name: "seven clicks", revenue: 10_000_004, tps: []attribution.Touchpoint{
			click("t1", 20*day, "display"), click("t2", 15*day, "email"), click("t3", 10*day, "social"),
			click("t4", 5*day, "referral"), click("t5", 3*day, "email"), click("t6", 2*day, "affiliate"),
			click("t7", hour, "paid_search")},
			path:   []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"},
			want:   []float64{1.0 / 7, 1.0 / 7, 1.0 / 7, 1.0 / 7, 1.0 / 7, 1.0 / 7, 1.0 / 7},
			micros: []int64{1_428_572, 1_428_572, 1_428_572, 1_428_572, 1_428_572, 1_428_572, 1_428_572}},
		{name: "ties on timestamp ordered by id", tps: []attribution.Touchpoint{click("c", day, "email"), click("a", day, "display"), click("b", day, "social")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, micros: []int64{33_333_334, 33_333_333, 33_333_333}},
		{name: "lookback edges", tps: []attribution.Touchpoint{click("out", 30*day+ms, "display"), click("edge", 30*day, "email"), click("now", 0, "direct"), click("late", -ms, "email")},
			path: []string{"edge", "now"}, want: []float64{0.5, 0.5}},
		{name: "all direct", tps: []attribution.Touchpoint{click("a", 2*day, "direct"), click("b", day, "direct")},
			path: []string{"a", "b"}, want: []float64{0.5, 0.5}},
		{name: "impressions inside the view window count like clicks", tps: []attribution.Touchpoint{click("c", 3*day, "email"), imp("i", 20*hour, "display"), imp("old", 2*day, "display")},
			path: []string{"c", "i"}, want: []float64{0.5, 0.5}},
		{name: "impression-only path", tps: []attribution.Touchpoint{imp("i1", 20*hour, "display"), imp("i2", 10*hour, "paid_social"), imp("i3", day+ms, "display")},
			path: []string{"i1", "i2"}, want: []float64{0.5, 0.5}},
		{name: "1 micro over 3 goes to the first", revenue: 1, tps: []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, micros: []int64{1, 0, 0}},
		{name: "2 micros over 3 go to the first two", revenue: 2, tps: []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, micros: []int64{1, 1, 0}},
	})
}
