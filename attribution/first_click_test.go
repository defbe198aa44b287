package attribution_test

import (
	"testing"

	"github.com/attributor/attributor/attribution"
)

func TestFirstClick(t *testing.T) {
	runModelCases(t, "first_click", []modelCase{
		{name: "one click", tps: []attribution.Touchpoint{click("a", day, "email")},
			path: []string{"a"}, want: []float64{1}, micros: []int64{100_000_000}},
		{name: "two clicks", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", 2*day, "paid_search")},
			path: []string{"a", "b"}, want: []float64{1, 0}, micros: []int64{100_000_000, 0}},
		{name: "three clicks", tps: []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{1, 0, 0}},
		{name: "many clicks", tps: []attribution.Touchpoint{
			click("t1", 20*day, "display"), click("t2", 15*day, "email"), click("t3", 10*day, "social"),
			click("t4", 5*day, "referral"), click("t5", 3*day, "email"), click("t6", 2*day, "affiliate"),
			click("t7", hour, "paid_search")},
			path: []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"}, want: []float64{1, 0, 0, 0, 0, 0, 0}},
		{name: "tie on timestamp goes to the smaller id", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", day, "display")},
			path: []string{"a", "b"}, want: []float64{1, 0}},
		{name: "click exactly at the lookback boundary is in and first", tps: []attribution.Touchpoint{click("later", day, "email"), click("edge", 30*day, "display")},
			path: []string{"edge", "later"}, want: []float64{1, 0}},
		{name: "click 1 ms beyond the lookback is out", tps: []attribution.Touchpoint{click("old", 30*day+ms, "display"), click("later", day, "email")},
			path: []string{"later"}, want: []float64{1}},
		{name: "click at the conversion's ms is in", tps: []attribution.Touchpoint{click("now", 0, "paid_search")},
			path: []string{"now"}, want: []float64{1}},
		{name: "click 1 ms after the conversion is out", tps: []attribution.Touchpoint{click("late", -ms, "paid_search")}},
		{name: "all direct", tps: []attribution.Touchpoint{click("a", 2*day, "direct"), click("b", day, "direct")},
			path: []string{"a", "b"}, want: []float64{1, 0}},
		{name: "click preferred over an earlier impression", tps: []attribution.Touchpoint{imp("i", 20*hour, "display"), click("c", hour, "email")},
			path: []string{"i", "c"}, want: []float64{0, 1}},
		{name: "impression outside the view window is out", tps: []attribution.Touchpoint{imp("i", 25*hour, "display"), click("c", hour, "email")},
			path: []string{"c"}, want: []float64{1}},
		{name: "impression-only path credits the first impression", tps: []attribution.Touchpoint{imp("i2", 10*hour, "paid_social"), imp("i1", 20*hour, "display")},
			path: []string{"i1", "i2"}, want: []float64{1, 0}},
		{name: "custom view window", cfg: attribution.Config{ViewWindow: 2 * 24 * 60 * 60 * 1e9},
			tps:  []attribution.Touchpoint{imp("i1", 2*day+ms, "display"), imp("i2", 2*day, "display")},
			path: []string{"i2"}, want: []float64{1}},
	})
}
