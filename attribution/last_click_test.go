package attribution_test

import (
	"testing"

	"github.com/attributor/attributor/attribution"
)

func TestLastClick(t *testing.T) {
	runModelCases(t, "last_click", []modelCase{
		{name: "one click", tps: []attribution.Touchpoint{click("a", day, "email")},
			path: []string{"a"}, want: []float64{1}, micros: []int64{100_000_000}},
		{name: "two clicks", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", 2*day, "paid_search")},
			path: []string{"a", "b"}, want: []float64{0, 1}, micros: []int64{0, 100_000_000}},
		{name: "three clicks", tps: []attribution.Touchpoint{click("a", 3*day, "display"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{0, 0, 1}},
		{name: "many clicks", tps: []attribution.Touchpoint{
			click("t1", 20*day, "display"), click("t2", 15*day, "email"), click("t3", 10*day, "social"),
			click("t4", 5*day, "referral"), click("t5", 3*day, "email"), click("t6", 2*day, "affiliate"),
			click("t7", hour, "paid_search")},
			path: []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"}, want: []float64{0, 0, 0, 0, 0, 0, 1}},
		{name: "tie on timestamp goes to the greater id", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", day, "display")},
			path: []string{"a", "b"}, want: []float64{0, 1}},
		{name: "click exactly at the lookback boundary is in", tps: []attribution.Touchpoint{click("edge", 30*day, "email")},
			path: []string{"edge"}, want: []float64{1}},
		{name: "click 1 ms beyond the lookback is out", tps: []attribution.Touchpoint{click("old", 30*day+ms, "email")}},
		{name: "click at the conversion's ms is in", tps: []attribution.Touchpoint{click("a", day, "email"), click("now", 0, "paid_search")},
			path: []string{"a", "now"}, want: []float64{0, 1}},
		{name: "click 1 ms after the conversion is out", tps: []attribution.Touchpoint{click("a", day, "email"), click("late", -ms, "paid_search")},
			path: []string{"a"}, want: []float64{1}},
		{name: "custom lookback", cfg: attribution.Config{Lookback: 7 * 24 * 60 * 60 * 1e9},
			tps:  []attribution.Touchpoint{click("old", 7*day+ms, "display"), click("in", 7*day, "email")},
			path: []string{"in"}, want: []float64{1}},
		{name: "all direct", tps: []attribution.Touchpoint{click("a", 2*day, "direct"), click("b", day, "direct")},
			path: []string{"a", "b"}, want: []float64{0, 1}},
		{name: "click preferred over a later impression", tps: []attribution.Touchpoint{click("c", 3*day, "email"), imp("i", hour, "display")},
			path: []string{"c", "i"}, want: []float64{1, 0}},
		{name: "impression outside the view window is out", tps: []attribution.Touchpoint{click("c", 3*day, "email"), imp("i", 2*day, "display")},
			path: []string{"c"}, want: []float64{1}},
		{name: "impression exactly at the view window edge is in", tps: []attribution.Touchpoint{imp("i", day, "display")},
			path: []string{"i"}, want: []float64{1}},
		{name: "impression 1 ms beyond the view window is out", tps: []attribution.Touchpoint{imp("i", day+ms, "display")}},
		{name: "impression-only path credits the last impression", tps: []attribution.Touchpoint{imp("i1", 20*hour, "display"), imp("i2", 10*hour, "paid_social")},
			path: []string{"i1", "i2"}, want: []float64{0, 1}},
	})
}
