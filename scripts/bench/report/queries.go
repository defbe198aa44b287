package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// benchQueries are the queries of scripts/bench/queries, in its order;
// target: it has the target (under 1 s at the largest step).
var benchQueries = []struct {
	name, label string
	target      bool
}{
	{"by_model_channel", "credited_daily by model and channel", true},
	{"model_comparison", "model_comparison (whole view)", true},
	{"channel_month", "channel_performance, one model, one month", true},
	{"one_conversion_compact", "one conversion by id (attributed_conversions FINAL)", false},
	{"one_conversion_lookup", "one conversion's credited rows by id (the documented lookup)", true},
	{"one_conversion_inner", "one conversion's credited rows, only the id in the FINAL read", false},
	{"by_model_channel_unfolded", "credited_conversions (unfolded) by model and channel", false},
	{"one_conversion", "one conversion's rows by id through credited_conversions", false},
	{"by_model_channel_live_credits", "credited_daily by model and channel, a day live (re-attributed)", true},
	{"model_comparison_live_credits", "model_comparison, a day live (re-attributed)", true},
	{"channel_month_live_credits", "channel_performance, one model, one month, a day live (re-attributed)", true},
	{"by_model_channel_live_today", "credited_daily by model and channel, today live", true},
	{"model_comparison_live_today", "model_comparison, today live", true},
	{"channel_month_live_today", "channel_performance, one model, one month, today live", true},
}

// querySteps returns the conversions of the queries section's subjects
// ("n=1000000"), ascending.
func querySteps(r *results) []int {
	seen := map[int]bool{}
	for k := range r.texts {
		if k.section != "queries" {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(k.subject, "n=")); err == nil {
			seen[n] = true
		}
	}
	var out []int
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// queriesRows prints the queries section (scripts/bench.sh queries) and
// returns its targets: each query under 1 s at the largest step, and the
// lookup of one conversion reading a small part of the stored rows.
func queriesRows(r *results, row func(bench, figure, value string), ms func(float64) string) []target {
	steps := querySteps(r)
	if len(steps) == 0 {
		return nil
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	bytes := func(v float64) string { return fmt.Sprintf("%.0f B", v) }
	mb := func(v float64) string { return fmt.Sprintf("%.1f MB", v/1e6) }
	for _, n := range steps {
		sub := fmt.Sprintf("n=%d", n)
		v := func(metric string) []float64 { return r.values("queries", sub, metric) }
		p := fmt.Sprintf("%s conversions: ", si(float64(n)))
		if len(v("conversions")) == 0 {
			continue // no fill recorded for this step
		}
		row("queries", p+"fill through the sink, s (conversions/s)", fmt.Sprintf("%s (%s)", spread(v("fill_seconds"), count), spread(v("fill_conversions_per_s"), si)))
		row("queries", p+"versions per conversion / credited rows written", fmt.Sprintf("%s / %s", spread(v("versions_per_conversion"), func(x float64) string { return fmt.Sprintf("%.3f", x) }), spread(v("credited_rows_written"), count)))
		row("queries", p+"disk bytes per credited conversion (tables holding credits)", spread(v("disk_bytes_per_conversion"), bytes))
		row("queries", p+"disk bytes per conversion, whole database", spread(v("database_bytes_per_conversion"), bytes))
		row("queries", p+"rows stored in the tables holding credits (parts)", fmt.Sprintf("%s (%s)", spread(v("credit_tables_rows"), count), spread(v("credit_tables_parts"), count)))
		for _, q := range benchQueries {
			if e := r.text("queries", sub, q.name+"_error"); e != "" {
				row("queries", p+q.label, "failed: "+e)
				continue
			}
			row("queries", p+q.label, spread(v(q.name+"_ms"), ms))
			if rr, rb := v(q.name+"_read_rows"), v(q.name+"_read_bytes"); len(rr) > 0 && len(rb) > 0 {
				row("queries", p+q.label+": read rows, bytes (query_log; per stored credit row)", fmt.Sprintf("%s, %s (%s)",
					count(median(rr)), mb(median(rb)), spread(v(q.name+"_read_rows_per_stored_credit_row"), func(x float64) string { return fmt.Sprintf("%.3f", x) })))
			}
		}
	}
	first, last := fmt.Sprintf("n=%d", steps[0]), fmt.Sprintf("n=%d", steps[len(steps)-1])
	if len(steps) > 1 {
		for _, q := range benchQueries {
			a, b := r.values("queries", first, q.name+"_ms"), r.values("queries", last, q.name+"_ms")
			if len(a) > 0 && len(b) > 0 {
				row("queries", fmt.Sprintf("%s: time at %s / at %s conversions (data x%.0f)", q.label, si(float64(steps[len(steps)-1])), si(float64(steps[0])), float64(steps[len(steps)-1])/float64(steps[0])),
					fmt.Sprintf("x%.1f", median(b)/median(a)))
			}
		}
	}
	var targets []target
	for _, q := range benchQueries {
		if !q.target {
			continue
		}
		name := fmt.Sprintf("%s under 1 s at %s conversions", q.label, si(float64(steps[len(steps)-1])))
		if e := r.text("queries", last, q.name+"_error"); e != "" {
			targets = append(targets, target{name: name, have: true, measured: "failed", margin: e})
			continue
		}
		targets = append(targets, atMost(name, r.values("queries", last, q.name+"_ms"), 1000, ms))
	}
	one := r.values("queries", last, "one_conversion_lookup_read_rows_per_compact_row")
	if len(one) > 0 {
		frac := func(x float64) string { return fmt.Sprintf("%.4f", x) }
		t := atMost("one conversion by id reads at most 1% of the stored compact rows", one, 0.01, frac)
		targets = append(targets, t)
	}
	return targets
}
