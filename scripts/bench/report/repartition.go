package main

import "fmt"

// repartitionRows reports the repartition benchmark: the direct path
// (murmur2 keys, equal counts) beside every event forwarded through the
// repartition topic, in paired runs.
func repartitionRows(r *results, row func(bench, figure, value string)) {
	us := func(v float64) string { return fmt.Sprintf("%.1f µs", v) }
	plain := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	direct := r.values("repartition", "direct", "events_per_s")
	fwd := r.values("repartition", "forwarded", "events_per_s")
	if len(direct) == 0 && len(fwd) == 0 {
		return // not run
	}
	var ratios []float64
	for i := range min(len(direct), len(fwd)) {
		ratios = append(ratios, fwd[i]/direct[i])
	}
	row("repartition", "events in Kafka", spread(r.values("repartition", "direct", "events"), plain))
	row("repartition", "direct path (murmur2 keys, 4 partitions), events/s end to end", spread(direct, si))
	row("repartition", "every event forwarded through <group>.repartition, events/s end to end", spread(fwd, si))
	row("repartition", "forwarded / direct (paired runs)", spread(ratios, pct))
	row("repartition", "events forwarded: direct path", spread(r.values("repartition", "direct", "forwarded"), plain))
	row("repartition", "events forwarded: misplaced input", spread(r.values("repartition", "forwarded", "forwarded"), plain))
	row("repartition", "CPU per event, attributor: direct / forwarded", fmt.Sprintf("%s / %s",
		spread(r.values("repartition", "direct", "cpu_us_per_item_self"), us), spread(r.values("repartition", "forwarded", "cpu_us_per_item_self"), us)))
	row("repartition", "CPU per event, Kafka: direct / forwarded", fmt.Sprintf("%s / %s",
		spread(r.values("repartition", "direct", "cpu_us_per_item_kafka"), us), spread(r.values("repartition", "forwarded", "cpu_us_per_item_kafka"), us)))
}
