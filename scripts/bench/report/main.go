// Command report prints the summary of a scripts/bench.sh run: a markdown
// table of medians and ratios, then each target as PASS or MISS with its
// margin. It reads the run's results.tsv, whose lines are
//
//	section<TAB>subject<TAB>metric<TAB>value
//
// one per measurement; a subject measured several times has several lines,
// in run order (so that interleaved runs pair up by position).
//
//	go run ./scripts/bench/report .run/bench/<run>/results.tsv
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

type key struct{ section, subject, metric string }

// results holds every value in file order.
type results struct {
	nums  map[key][]float64
	texts map[key]string
}

func read(r io.Reader) (*results, error) {
	res := &results{nums: map[key][]float64{}, texts: map[key]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 tab-separated fields, got %q", n, line)
		}
		k := key{f[0], f[1], f[2]}
		if v, err := strconv.ParseFloat(f[3], 64); err == nil {
			res.nums[k] = append(res.nums[k], v)
		}
		res.texts[k] = f[3]
	}
	return res, sc.Err()
}

func (r *results) values(section, subject, metric string) []float64 {
	return r.nums[key{section, subject, metric}]
}

func (r *results) text(section, subject, metric string) string {
	return r.texts[key{section, subject, metric}]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// si formats v with a k or M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

// spread is "median (min–max, n runs)" of v.
func spread(v []float64, format func(float64) string) string {
	if len(v) == 0 {
		return "–"
	}
	if len(v) == 1 {
		return format(v[0])
	}
	return fmt.Sprintf("%s (%s–%s, %d runs)", format(median(v)), format(slices.Min(v)), format(slices.Max(v)), len(v))
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }

type target struct {
	name     string
	have     bool
	pass     bool
	measured string
	margin   string
}

// atLeast compares a measured v with a floor.
func atLeast(name string, v []float64, floor float64, format func(float64) string) target {
	if len(v) == 0 {
		return target{name: name}
	}
	m := median(v)
	t := target{name: name, have: true, pass: m >= floor, measured: format(m)}
	if t.pass {
		t.margin = fmt.Sprintf("%+.0f%% above %s", 100*(m/floor-1), format(floor))
	} else {
		t.margin = fmt.Sprintf("%.0f%% short of %s (needs %.2fx)", 100*(1-m/floor), format(floor), floor/m)
	}
	return t
}

// atMost compares a measured v with a ceiling.
func atMost(name string, v []float64, ceiling float64, format func(float64) string) target {
	if len(v) == 0 {
		return target{name: name}
	}
	m := median(v)
	t := target{name: name, have: true, pass: m <= ceiling, measured: format(m)}
	if t.pass {
		t.margin = fmt.Sprintf("%s under %s", format(ceiling-m), format(ceiling))
	} else {
		t.margin = fmt.Sprintf("%s over %s (needs %.2fx less)", format(m-ceiling), format(ceiling), m/ceiling)
	}
	return t
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report RESULTS.tsv")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
	defer f.Close()
	r, err := read(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
	write(os.Stdout, r)
}

func write(w io.Writer, r *results) {
	fmt.Fprintf(w, "Command: %s\n\nCode: %s. Machine: %s cores (%s), %s, Kafka %s, ClickHouse %s; load average (1, 5, 15 min) at start %s, at end %s.\n\n",
		r.text("facts", "machine", "command"), r.text("facts", "machine", "commit"), r.text("facts", "machine", "nproc"), r.text("facts", "machine", "cpu"),
		r.text("facts", "machine", "go"), r.text("facts", "machine", "kafka"), r.text("facts", "machine", "clickhouse"),
		r.text("facts", "load", "start"), r.text("facts", "load", "end"))
	fmt.Fprintln(w, "| benchmark | figure | median (min–max, runs) |")
	fmt.Fprintln(w, "|---|---|---:|")
	row := func(bench, figure, value string) {
		if value != "–" && value != "" {
			fmt.Fprintf(w, "| %s | %s | %s |\n", bench, figure, value)
		}
	}
	ms := func(v float64) string { return fmt.Sprintf("%.0f ms", v) }
	bytes := func(v float64) string { return fmt.Sprintf("%.1f B", v) }
	plain := func(v float64) string { return fmt.Sprintf("%.3g", v) }
	seconds := func(v float64) string { return fmt.Sprintf("%.1f s", v) }

	var targets []target
	// Throughput.
	attr := r.values("throughput", "attributor", "events_per_s")
	drain := r.values("throughput", "drain", "events_per_s")
	var ratios []float64
	for i := range min(len(attr), len(drain)) {
		ratios = append(ratios, attr[i]/drain[i])
	}
	events := r.values("throughput", "attributor", "events")
	if len(events) > 0 {
		row("throughput", "events in Kafka", fmt.Sprintf("%.0f", events[0]))
	}
	row("throughput", "attributor end to end, events/s", spread(attr, si))
	row("throughput", "attributor wall time", spread(r.values("throughput", "attributor", "seconds"), seconds))
	row("throughput", "bare kafka-go drain, events/s", spread(drain, si))
	row("throughput", "attributor / drain (paired runs)", spread(ratios, pct))
	row("throughput", "bare clickhouse-go insert, compact rows/s (one per conversion version)", spread(r.values("throughput", "insert", "rows_per_s"), si))
	row("throughput", "bare clickhouse-go insert, credited rows/s (those compact rows hold)", spread(r.values("throughput", "insert", "credited_rows_per_s"), si))
	row("throughput", "credited rows per event", spread(r.values("throughput", "attributor", "credited_per_event"), plain))
	// Where the cores go: CPU time per event of each process during the
	// attributor runs, and of ClickHouse per row during the bare insert.
	us := func(v float64) string { return fmt.Sprintf("%.1f µs", v) }
	perEvent := map[string][]float64{}
	for _, who := range []string{"self", "clickhouse", "kafka"} {
		perEvent[who] = r.values("throughput", "attributor", "cpu_us_per_item_"+who)
	}
	row("throughput", "CPU per event: attributor", spread(perEvent["self"], us))
	row("throughput", "CPU per event: ClickHouse (during the attributor runs)", spread(perEvent["clickhouse"], us))
	row("throughput", "CPU per event: Kafka (during the attributor runs)", spread(perEvent["kafka"], us))
	row("throughput", "CPU per compact row: ClickHouse (bare insert)", spread(r.values("throughput", "insert", "cpu_us_per_item_clickhouse"), us))
	var cores []float64
	for i := range min(len(perEvent["self"]), len(perEvent["clickhouse"]), len(perEvent["kafka"])) {
		cores = append(cores, (perEvent["self"][i]+perEvent["clickhouse"][i]+perEvent["kafka"][i])*100_000/1e6)
	}
	row("throughput", "cores that 100,000 events/s would take at these costs", spread(cores, plain))
	targets = append(targets,
		atLeast("end to end >= 100,000 events/s", attr, 100_000, si),
		atLeast("end to end >= 50% of the bare drain", ratios, 0.5, pct))

	// Cluster: 1, 2 and 3 instances in one group (scripts/bench.sh cluster).
	one := r.values("cluster", "instances-1", "events_per_s")
	for n := 1; n <= 3; n++ {
		v := r.values("cluster", fmt.Sprintf("instances-%d", n), "events_per_s")
		row("cluster", fmt.Sprintf("%d instance(s) in one group, events/s", n), spread(v, si))
		if n > 1 && len(v) > 0 && len(one) > 0 {
			row("cluster", fmt.Sprintf("%d instances / 1 instance (medians)", n), pct(median(v)/median(one)))
		}
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	for n := 1; n <= 3; n++ {
		row("cluster", fmt.Sprintf("%d instance(s): restarts after the 25 s drain timeout", n), spread(r.values("cluster", fmt.Sprintf("instances-%d", n), "drain_timeout_restarts"), count))
	}
	row("cluster", "events in Kafka", spread(r.values("cluster", "instances-1", "events")[:min(1, len(one))], count))
	row("cluster", "credited rows (equal in every run)", spread(r.values("cluster", "instances-1", "credited_rows")[:min(1, len(one))], count))

	// Latency.
	row("latency", "rate produced, events/s", spread(r.values("latency", "live", "produce_events_per_s"), si))
	row("latency", "conversions produced", spread(r.values("latency", "live", "conversions"), plain))
	row("latency", "conversions measured / lost", join(r.values("latency", "live", "measured"), r.values("latency", "live", "lost")))
	row("latency", "p50 beyond allowed lateness", spread(r.values("latency", "live", "p50_ms"), ms))
	row("latency", "p99 beyond allowed lateness", spread(r.values("latency", "live", "p99_ms"), ms))
	row("latency", "max beyond allowed lateness", spread(r.values("latency", "live", "max_ms"), ms))
	row("latency", "resolution (poll period p50 / p99)", joinWith(r.values("latency", "live", "poll_period_p50_ms"), r.values("latency", "live", "poll_period_p99_ms"), ms))
	row("latency", "p50 / p99 from the poll before (lower bound)", joinWith(r.values("latency", "live", "p50_low_ms"), r.values("latency", "live", "p99_low_ms"), ms))
	row("latency", "the tool's own CPU while producing (producer, poller), share of a core", spread(r.values("latency", "live", "tool_core_share_produce"), plain))
	lat := r.values("latency", "live", "p99_ms")
	lt := atMost("latency p99 <= 1 s beyond the allowed lateness", lat, 1000, ms)
	if lost := r.values("latency", "live", "lost"); lt.have && len(lost) > 0 && median(lost) > 0 {
		lt.pass = false
		lt.margin += fmt.Sprintf("; %.0f conversions lost", median(lost))
	}
	targets = append(targets, lt)
	row("latency", "one core busy: rate produced, events/s", spread(r.values("latency", "busy", "produce_events_per_s"), si))
	row("latency", "one core busy: conversions measured / lost", join(r.values("latency", "busy", "measured"), r.values("latency", "busy", "lost")))
	row("latency", "one core busy: p50 beyond allowed lateness", spread(r.values("latency", "busy", "p50_ms"), ms))
	row("latency", "one core busy: p99 beyond allowed lateness", spread(r.values("latency", "busy", "p99_ms"), ms))
	row("latency", "one core busy: max beyond allowed lateness", spread(r.values("latency", "busy", "max_ms"), ms))
	row("latency", "one core busy: resolution (poll period p50 / p99)", joinWith(r.values("latency", "busy", "poll_period_p50_ms"), r.values("latency", "busy", "poll_period_p99_ms"), ms))
	row("latency", "one core busy: p50 / p99 from the poll before (lower bound)", joinWith(r.values("latency", "busy", "p50_low_ms"), r.values("latency", "busy", "p99_low_ms"), ms))
	row("latency", "one core busy: the tool's own CPU while producing (producer, poller), share of a core", spread(r.values("latency", "busy", "tool_core_share_produce"), plain))
	row("latency", "one core busy: CPU the burner got (s)", spread(r.values("latency", "busy", "burner_cpu_s"), plain))
	row("latency", "one core busy: share of a core the burner got over the run", spread(r.values("latency", "busy", "burner_core_share"), plain))
	bt := atMost("latency p99 <= 1 s beyond the allowed lateness, one core busy", r.values("latency", "busy", "p99_ms"), 1000, ms)
	if lost := r.values("latency", "busy", "lost"); bt.have && len(lost) > 0 && median(lost) > 0 {
		bt.pass = false
		bt.margin += fmt.Sprintf("; %.0f conversions lost", median(lost))
	}
	if bt.have {
		targets = append(targets, bt)
	}

	targets = append(targets, queriesRows(r, row, ms)...)

	repartitionRows(r, row)

	// Memory: a run with the default GC, then one under --memory-limit.
	mib := func(v float64) string { return fmt.Sprintf("%.0f MiB", v) }
	cpu := func(v float64) string { return fmt.Sprintf("%.1f s", v) }
	row("memory", "held touchpoints (users x 5)", spread(r.values("memory", "rss", "touchpoints"), plain))
	row("memory", "RSS empty state (baseline)", spread(r.values("memory", "rss", "baseline_rss_kb"), kib))
	for _, run := range []struct{ subject, label string }{{"rss", "default GC"}, {"budget", "with budget"}} {
		v := func(metric string) []float64 { return r.values("memory", run.subject, metric) }
		if budget, base := v("budget_bytes_per_tp"), v("budget_base_kb"); len(budget) > 0 && len(base) > 0 {
			row("memory", "with budget: --memory-limit (as the attributor logged it)", fmt.Sprintf("%s (%.0f B x touchpoints + baseline %s)",
				spread(v("memory_limit_bytes"), func(x float64) string { return mib(x / (1 << 20)) }), budget[0], kib(base[0])))
		}
		p := run.label + ": "
		row("memory", p+"held every touchpoint with lag 0 (runs)", heldRuns(v("held_all")))
		row("memory", p+"RSS holding them", spread(v("rss_kb"), kib))
		row("memory", p+"resident bytes per held touchpoint", spread(v("bytes_per_tp"), bytes))
		row("memory", p+"peak (VmHWM) bytes per held touchpoint", spread(v("hwm_bytes_per_tp"), bytes))
		row("memory", p+"Go live heap bytes per held touchpoint (gctrace, largest live heap)", spread(v("live_heap_bytes_per_tp"), bytes))
		row("memory", p+"Go live heap bytes per held touchpoint (gctrace, last cycle)", spread(v("live_heap_last_bytes_per_tp"), bytes))
		row("memory", p+"Go live heap bytes per held touchpoint (idle process's periodic GC)", spread(v("idle_gc_live_bytes_per_tp"), bytes))
		row("memory", p+"resident bytes per held touchpoint after that GC", spread(v("idle_gc_rss_bytes_per_tp"), bytes))
		row("memory", p+"Go live heap bytes per held touchpoint (the GC after that one, forced at stop: without sync.Pool caches)", spread(v("stop_gc_live_bytes_per_tp"), bytes))
		row("memory", p+"GC heap goal at the end", spread(v("heap_goal_mib_last"), mib))
		row("memory", p+"ingest, touchpoints/s (first produced to caught up)", spread(v("ingest_touchpoints_per_s"), si))
		row("memory", p+"process CPU during the ingest", spread(v("cpu_seconds_ingest"), cpu))
		if gcCPU, cycles := v("gc_cpu_seconds_ingest"), v("gc_cycles_ingest"); len(gcCPU) > 0 && len(cycles) > 0 {
			row("memory", p+"GC time on the Ps during the ingest (gctrace \"ms cpu\"; over CPU time when the machine is oversubscribed)", fmt.Sprintf("%s in %.0f cycles", spread(gcCPU, cpu), median(cycles)))
		}
	}
	row("memory", "Go heap bytes per held touchpoint (BenchmarkShardState)", spread(r.values("memory", "BenchmarkShardState", "B/held-tp"), bytes))
	targets = append(targets, memoryTarget(r, bytes))

	// Engine.
	conv := r.values("engine", "BenchmarkAttribute/tps=5", "conversions/s")
	allocs := r.values("engine", "BenchmarkAttribute/tps=5", "allocs/op")
	row("engine", "Attribute, 6 models, 5-touch path: conversions/s (one core)", spread(conv, si))
	row("engine", "Attribute, 6 models, 5-touch path: time/op", spread(r.values("engine", "BenchmarkAttribute/tps=5", "ns/op"), func(v float64) string { return fmt.Sprintf("%.0f ns", v) }))
	row("engine", "Attribute, 6 models, 5-touch path: allocs/op", spread(allocs, plain))
	row("engine", "attributor replay, events/s", spread(r.values("engine", "replay", "events_per_s"), si))
	et := atLeast("engine >= 1M conversions/s per core", conv, 1e6, si)
	if et.have && len(allocs) > 0 && slices.Max(allocs) > 0 {
		et.pass = false
		et.margin += fmt.Sprintf("; %.0f allocs per conversion (want 0)", slices.Max(allocs))
	} else if et.have {
		et.margin += "; 0 allocs per conversion"
	}
	targets = append(targets, et)

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured (median) | verdict |")
	fmt.Fprintln(w, "|---|---:|---|")
	for _, t := range targets {
		if !t.have {
			fmt.Fprintf(w, "| %s | not measured | – |\n", t.name)
			continue
		}
		verdict := "MISS"
		if t.pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "| %s | %s | %s: %s |\n", t.name, t.measured, verdict, t.margin)
	}
}

// memoryTarget judges the resident bytes per held touchpoint of the run
// under --memory-limit when every one of its runs held every touchpoint with
// no lag, else of the run with the default GC.
func memoryTarget(r *results, format func(float64) string) target {
	const name = "<= 100 resident bytes per held touchpoint"
	budget, held := r.values("memory", "budget", "bytes_per_tp"), r.values("memory", "budget", "held_all")
	if len(budget) > 0 && len(held) == len(budget) && slices.Min(held) == 1 {
		t := atMost(name, budget, 100, format)
		t.margin = "with --memory-limit: " + t.margin
		return t
	}
	t := atMost(name, r.values("memory", "rss", "bytes_per_tp"), 100, format)
	if !t.have {
		return t
	}
	t.margin = "default GC: " + t.margin
	if h := r.values("memory", "rss", "held_all"); len(h) > 0 && slices.Min(h) < 1 {
		t.pass = false
		t.margin += "; not every touchpoint held with lag 0"
	}
	if len(budget) > 0 {
		t.margin += "; the run under --memory-limit did not hold every touchpoint with lag 0"
	}
	return t
}

// heldRuns is "yes" when every run held every touchpoint, else how many did.
func heldRuns(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	n := 0
	for _, x := range v {
		if x == 1 {
			n++
		}
	}
	if n == len(v) {
		return "yes"
	}
	return fmt.Sprintf("no: %d of %d runs", n, len(v))
}

func kib(v float64) string { return fmt.Sprintf("%.0f MiB", v/1024) }

func join(a, b []float64) string {
	if len(a) == 0 || len(b) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f / %.0f", median(a), median(b))
}

func joinWith(a, b []float64, format func(float64) string) string {
	if len(a) == 0 || len(b) == 0 {
		return "–"
	}
	return format(median(a)) + " / " + format(median(b))
}
