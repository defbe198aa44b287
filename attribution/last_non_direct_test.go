package attribution_test

import (
	"testing"

	"github.com/attributor/attributor/attribution"
)

func TestLastNonDirect(t *testing.T) {
	runModelCases(t, "last_non_direct", []modelCase{
		{name: "one click", tps: []attribution.Touchpoint{click("a", day, "email")},
			path: []string{"a"}, want: []float64{1}, micros: []int64{100_000_000}},
		{name: "one direct click", tps: []attribution.Touchpoint{click("a", day, "direct")},
			path: []string{"a"}, want: []float64{1}},
		{name: "direct after email credits email", tps: []attribution.Touchpoint{click("a", 2*day, "email"), click("b", day, "direct")},
			path: []string{"a", "b"}, want: []float64{1, 0}, micros: []int64{100_000_000, 0}},
		{name: "three clicks, last is not direct", tps: []attribution.Touchpoint{click("a", 3*day, "direct"), click("b", 2*day, "email"), click("c", day, "referral")},
			path: []string{"a", "b", "c"}, want: []float64{0, 0, 1}},
		{name: "many clicks, directs at both ends", tps: []attribution.Touchpoint{
			click("t1", 20*day, "direct"), click("t2", 15*day, "email"), click("t3", 10*day, "direct"),
			click("t4", 5*day, "paid_search"), click("t5", 3*day, "direct"), click("t6", 2*day, "direct"),
			click("t7", hour, "direct")},
			path: []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"}, want: []float64{0, 0, 0, 1, 0, 0, 0}},
		{name: "all direct credits the last", tps: []attribution.Touchpoint{click("a", 3*day, "direct"), click("b", 2*day, "direct"), click("c", day, "direct")},
			path: []string{"a", "b", "c"}, want: []float64{0, 0, 1}},
		{name: "tie on timestamp goes to the greater id", tps: []attribution.Touchpoint{click("b", day, "email"), click("a", day, "display"), click("c", day, "direct")},
			path: []string{"a", "b", "c"}, want: []float64{0, 1, 0}},
		{name: "a non-direct click beyond the lookback does not count", tps: []attribution.Touchpoint{click("old", 30*day+ms, "email"), click("edge", 30*day, "direct"), click("d", day, "direct")},
			path: []string{"edge", "d"}, want: []float64{0, 1}},
		{name: "a non-direct click after the conversion does not count", tps: []attribution.Touchpoint{click("now", 0, "direct"), click("late", -ms, "email")},
			path: []string{"now"}, want: []float64{1}},
		{name: "impression in the view window is not direct", tps: []attribution.Touchpoint{click("e", 3*day, "email"), imp("i", hour, "display"), click("d", 0, "direct")},
			path: []string{"e", "i", "d"}, want: []float64{0, 1, 0}},
		{name: "impression outside the view window does not count", tps: []attribution.Touchpoint{click("e", 3*day, "email"), imp("i", day+ms, "display"), click("d", 0, "direct")},
			path: []string{"e", "d"}, want: []float64{1, 0}},
		{name: "impression-only path", tps: []attribution.Touchpoint{imp("i1", 20*hour, "display"), imp("i2", 10*hour, "direct")},
			path: []string{"i1", "i2"}, want: []float64{1, 0}},
	})
}
