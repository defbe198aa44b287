// Command latency measures how long a conversion takes from its produce to
// its credited rows being visible in ClickHouse, with the attributor
// consuming live traffic in its normal (streaming) mode:
//
//	latency [flags] -- ATTRIBUTOR RUN ARGS...
//
// It creates the topics, starts the attributor command given after "--"
// (which must log at info level, to say when its group generation started,
// and use --allowed-lateness equal to --lateness), then produces --rate
// events/s for --seconds on the schedule of the generator's live mode: every
// event is stamped with the wall clock when it is produced, so a
// conversion's timestamp is its produce time (the events are encoded
// before the clock starts, and only stamped and sent during the run). Meanwhile it polls ClickHouse every --poll:
// new parts of attributed_conversions (system.parts), then the
// conversion_ids in them. A conversion's latency is the start of the first
// poll that saw it, minus its timestamp, minus the allowed lateness that it
// waits by design; it is an over-estimate by at most one poll period (the
// resolution, reported), and the same figures measured from the start of
// the poll before (p50_low_ms, p99_low_ms) are an under-estimate: the two
// are apart by the poller's own lateness, which a machine short of CPU
// makes larger (poll_took_*). Conversions not visible --grace after the
// last produce are lost.
//
// The tool shares the cores with what it measures, so it is kept cheap:
// the events are sent one request per live tick for all partitions of
// both topics (tickProducer), the poller looks up the tables once, and
// --timeline (one query a second and /proc) shows where every second's
// CPU went and what ClickHouse did, beside the latency of the conversions
// produced in it.
//
// Results go to stdout as "metric<TAB>value" lines.
package main

import (
	"github.com/attributor/attributor/scripts/bench/internal/attrproc"
	"github.com/attributor/attributor/scripts/bench/internal/chwatch"

	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
)

func main() {
	var (
		broker     = flag.String("brokers", "127.0.0.1:9092", "Kafka broker `host:port`")
		chAddr     = flag.String("clickhouse", "127.0.0.1:9000", "ClickHouse native `host:port`")
		db         = flag.String("database", "", "the attributor's ClickHouse `database`")
		tpTopic    = flag.String("touchpoints-topic", "", "touchpoints `topic` (created)")
		cvTopic    = flag.String("conversions-topic", "", "conversions `topic` (created)")
		partitions = flag.Int("partitions", 4, "partitions of the created topics")
		rate       = flag.Float64("rate", 20_000, "events produced per second")
		seconds    = flag.Int("seconds", 60, "seconds of producing")
		seed       = flag.Int64("seed", 1, "generator seed")
		lateness   = flag.Duration("lateness", 5*time.Second, "the attributor's --allowed-lateness, subtracted from every latency")
		poll       = flag.Duration("poll", 50*time.Millisecond, "ClickHouse poll interval")
		grace      = flag.Duration("grace", 20*time.Second, "wait after the last produce before a conversion counts as lost")
		logPath    = flag.String("log", "", "write the attributor's stderr to `file`")
		lostPath   = flag.String("lost", "", "write the lost conversions (id and produce time) to `file`")
		winPath    = flag.String("windows", "", "write latency quantiles per --window of produce time to `file` (does it drift?)")
		window     = flag.Duration("window", 10*time.Second, "width of the --windows rows (1s to line tail latencies up with the attributor's log)")
		timeline   = flag.String("timeline", "", "write, per second of the run, the CPU of each process, ClickHouse's inserts, merges and CPU wait, the producer's and poller's delays, and the latency of the conversions produced in it, to `file`")
		cpuprofile = flag.String("cpuprofile", "", "write this tool's own CPU profile (producer, poller) to `file`")
	)
	flag.Parse()
	if *db == "" || *tpTopic == "" || *cvTopic == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: latency --database DB --touchpoints-topic T --conversions-topic C [flags] -- ATTRIBUTOR RUN ARGS...")
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "latency: cpuprofile: %v\n", err)
			os.Exit(1)
		}
	}
	err := run(*broker, *chAddr, *db, *tpTopic, *cvTopic, *partitions, *rate, *seconds, *seed, *lateness, *poll, *grace, *logPath, *lostPath, *winPath, *window, *timeline, flag.Args())
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "latency: %v\n", err)
		os.Exit(1)
	}
}

func result(metric string, v any) { fmt.Printf("%s\t%v\n", metric, v) }

func run(broker, chAddr, db, tpTopic, cvTopic string, partitions int, rate float64, seconds int, seed int64,
	lateness, poll, grace time.Duration, logPath, lostPath, winPath string, window time.Duration, timeline string, attributor []string) error {
	ctx := context.Background()
	if err := generate.EnsureTopics(ctx, broker, partitions, tpTopic, cvTopic); err != nil {
		return err
	}
	traffic, err := generate.New(generate.Config{Seed: seed, Events: int(rate * float64(seconds))})
	if err != nil {
		return err
	}
	events, err := prepare(traffic)
	if err != nil {
		return err
	}
	proc, err := attrproc.Start(attributor, logPath, nil)
	if err != nil {
		return err
	}
	defer proc.Stop()
	select {
	case <-proc.Ready:
	case <-proc.Done:
		return fmt.Errorf("attributor exited before its group generation started: %v", proc.Err)
	case <-time.After(90 * time.Second):
		return errors.New("attributor: no group generation after 90s")
	}
	conn, err := pipeline.OpenClickHouse(ctx, pipeline.ClickHouseConfig{Addr: chAddr, Username: "default", DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()

	w := chwatch.New(conn, db)
	pr := &probe{}
	w.OnPoll = func(took time.Duration) {
		pr.polls.Add(1)
		maxInto(&pr.pollMaxUs, took.Microseconds())
	}
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	polled := make(chan error, 1)
	go func() { polled <- w.Run(pctx, poll) }()

	// Produce, noting every conversion's produce time (its timestamp).
	// The producer shares the two cores with what it measures, so it is
	// kept cheap: one request per live tick for every partition of both
	// topics (see tickProducer).
	p := newTickProducer(ctx, broker, tpTopic, cvTopic, partitions)
	defer p.Close()
	produced := map[string]int64{}
	var smp *sampler
	sctx, stopSample := context.WithCancel(ctx)
	defer stopSample()
	sampled := make(chan struct{})
	cpu0, _ := cpuSeconds()
	began := time.Now()
	if timeline != "" {
		smp = newSampler(conn, db, proc.Cmd.Process.Pid, pr, rate, traffic.Len())
		smp.began = began
		go func() {
			defer close(sampled)
			smp.run(sctx)
		}()
	} else {
		close(sampled)
	}
	flush := func() error {
		t := time.Now()
		err := p.Flush()
		maxInto(&pr.flushMaxUs, time.Since(t).Microseconds())
		return err
	}
	err = events.emitLive(ctx, rate, func(k generate.Kind, key string, v []byte) error {
		pr.emitted.Add(1)
		return p.Write(k, key, v)
	}, flush, func(id string, ms int64) {
		if _, dup := produced[id]; !dup {
			produced[id] = ms
		}
	})
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	took := time.Since(began)
	lastProduce := time.Now()
	cpu1, _ := cpuSeconds()

	// Wait for every conversion, or the grace period; only the ones not
	// seen yet are looked up again (a poller's lookups of all of them ten
	// times a second were this tool's largest cost after the produce).
	missing := make(map[string]bool, len(produced))
	for id := range produced {
		missing[id] = true
	}
	for time.Since(lastProduce) < grace {
		for id := range missing {
			if _, ok := w.Seen(id); ok {
				delete(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		select {
		case err := <-polled:
			return fmt.Errorf("poll: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	stopPoll()
	if err := <-polled; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("poll: %w", err)
	}
	stopSample()
	<-sampled
	code := proc.Stop()
	self, children := cpuSeconds()

	var lat, low []float64
	var lost []string
	latByID := map[string]float64{}
	windows := map[int64][]float64{} // by window of produce time since the start
	winMs := max(window.Milliseconds(), 1)
	for id, ms := range produced {
		if at, ok := w.Seen(id); ok {
			l := float64(at.UnixMilli() - ms - lateness.Milliseconds())
			lat = append(lat, l)
			latByID[id] = l
			if prev, ok := w.PollBefore(at); ok {
				low = append(low, float64(prev.UnixMilli()-ms-lateness.Milliseconds()))
			}
			k := (ms - began.UnixMilli()) / winMs
			windows[k] = append(windows[k], l)
		} else {
			lost = append(lost, fmt.Sprintf("%s\t%s", id, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)))
		}
	}
	if lostPath != "" {
		slices.Sort(lost)
		if err := os.WriteFile(lostPath, []byte(strings.Join(lost, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	slices.Sort(lat)
	if winPath != "" {
		var b strings.Builder
		b.WriteString("produced_from_s\tconversions\tp50_ms\tp99_ms\tmax_ms\n")
		keys := make([]int64, 0, len(windows))
		for k := range windows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := windows[k]
			slices.Sort(v)
			fmt.Fprintf(&b, "%g\t%d\t%.0f\t%.0f\t%.0f\n", float64(k*winMs)/1000, len(v), quantile(v, 0.5), quantile(v, 0.99), v[len(v)-1])
		}
		if err := os.WriteFile(winPath, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if smp != nil {
		if err := smp.write(timeline, began, produced, latByID, w.Seen, clkTck()); err != nil {
			return err
		}
	}
	result("events", traffic.Len())
	result("produce_start_unix_ms", began.UnixMilli())
	result("produce_seconds", fmt.Sprintf("%.3f", took.Seconds()))
	result("produce_events_per_s", fmt.Sprintf("%.0f", float64(traffic.Len())/took.Seconds()))
	result("conversions", len(produced))
	result("measured", len(lat))
	result("lost", len(produced)-len(lat))
	if len(lat) > 0 {
		result("p50_ms", fmt.Sprintf("%.0f", quantile(lat, 0.50)))
		result("p99_ms", fmt.Sprintf("%.0f", quantile(lat, 0.99)))
		result("max_ms", fmt.Sprintf("%.0f", lat[len(lat)-1]))
		result("min_ms", fmt.Sprintf("%.0f", lat[0]))
	}
	if len(low) > 0 {
		// The same from the start of the poll before the one that saw each
		// conversion: a lower bound, the figures above being an upper one;
		// apart by the poller's own lateness.
		slices.Sort(low)
		result("p50_low_ms", fmt.Sprintf("%.0f", quantile(low, 0.50)))
		result("p99_low_ms", fmt.Sprintf("%.0f", quantile(low, 0.99)))
	}
	periods := w.Periods()
	if len(periods) > 0 {
		result("poll_period_p50_ms", fmt.Sprintf("%.1f", quantile(periods, 0.50)))
		result("poll_period_p99_ms", fmt.Sprintf("%.1f", quantile(periods, 0.99)))
	}
	if took := w.Took(); len(took) > 0 {
		// A poll's own duration: how late the poller itself notes what
		// became visible while it was busy (the period above includes it).
		result("poll_took_p50_ms", fmt.Sprintf("%.1f", quantile(took, 0.50)))
		result("poll_took_p99_ms", fmt.Sprintf("%.1f", quantile(took, 0.99)))
	}
	result("parts_read", w.PartsRead())
	// Where the cores went: this tool (generator, producer and poller,
	// the whole run) and the attributor (its child, once it exited).
	result("tool_cpu_s", fmt.Sprintf("%.2f", self))
	// While producing, what the measured machine shares with the tool:
	// the generation before the clock and the wait after are left out.
	result("tool_cpu_produce_s", fmt.Sprintf("%.2f", cpu1-cpu0))
	result("tool_core_share_produce", fmt.Sprintf("%.3f", (cpu1-cpu0)/took.Seconds()))
	result("attributor_cpu_s", fmt.Sprintf("%.2f", children))
	result("attributor_exit", code)
	return nil
}

// cpuSeconds returns the user + system CPU seconds of this process and of
// its waited-for children.
func cpuSeconds() (self, children float64) {
	sec := func(ru *syscall.Rusage) float64 {
		return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = sec(&ru)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = sec(&ru)
	}
	return self, children
}

// clkTck is the kernel's clock ticks per second (the unit of /proc CPU
// times): USER_HZ, 100 on Linux for every architecture Go runs on.
func clkTck() float64 { return 100 }

// quantile returns the q-quantile of sorted v, nearest rank.
func quantile(v []float64, q float64) float64 {
	i := int(q*float64(len(v))+0.999999) - 1
	return v[max(0, min(len(v)-1, i))]
}
