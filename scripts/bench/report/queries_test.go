package main

import (
	"strings"
	"testing"
)

// The queries section: steps in numeric order, a failed query shown as
// failed and judged MISS, growth between the smallest and largest step.
func TestQueriesRows(t *testing.T) {
	in := strings.Join([]string{
		"queries\tn=10000000\tconversions\t10000000",
		"queries\tn=10000000\tby_model_channel_ms\t900",
		"queries\tn=10000000\tone_conversion_lookup_error\tcode: 241, memory limit exceeded",
		"queries\tn=1000000\tconversions\t1000000",
		"queries\tn=1000000\tby_model_channel_ms\t100",
		"queries\tn=1000000\tby_model_channel_ms\t300",
		"queries\tn=1000000\tby_model_channel_ms\t200",
	}, "\n")
	r, err := read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := querySteps(r); len(got) != 2 || got[0] != 1_000_000 || got[1] != 10_000_000 {
		t.Fatalf("steps = %v, want [1000000 10000000]", got)
	}
	var b strings.Builder
	write(&b, r)
	out := b.String()
	for _, want := range []string{
		"| queries | 1.00 M conversions: credited_daily by model and channel | 200 ms (100 ms–300 ms, 3 runs) |",
		"| queries | 10.00 M conversions: one conversion's credited rows by id (the documented lookup) | failed: code: 241, memory limit exceeded |",
		"| queries | credited_daily by model and channel: time at 10.00 M / at 1.00 M conversions (data x10) | x4.5 |",
		"| credited_daily by model and channel under 1 s at 10.00 M conversions | 900 ms | PASS",
		"| one conversion's credited rows by id (the documented lookup) under 1 s at 10.00 M conversions | failed | MISS: code: 241",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
