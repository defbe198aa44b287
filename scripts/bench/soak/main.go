// Command soak runs an attributor against live traffic for a long time,
// through restarts and a ClickHouse outage, and checks at the end that the
// view equals replay:
//
//	soak --attributor BIN --brokers B --clickhouse HOST:PORT --database DB \
//	     --touchpoints-topic T --conversions-topic C --dlq-topic D --group G \
//	     --duration 30m --rate 2000 --outage-stop CMD --outage-start CMD [-- EXTRA RUN FLAGS]
//
// The topics and the database must exist (scripts/soak.sh creates them).
// It starts `attributor run`, produces --rate events/s with the
// generator's live mode (every event stamped with the wall clock when it is
// produced) for --duration, and meanwhile:
//
//   - at 20% and 75% of the duration stops the attributor with SIGTERM and
//     starts it again; at 40% kills it with SIGKILL and starts it again;
//   - at 55% runs --outage-stop (which stops the ClickHouse server the
//     attributor writes to), waits --outage, then runs --outage-start;
//   - every --interval prints one line: the attributor's RSS (from /proc),
//     its consumer lag and users in memory (from its /metrics), and the
//     latency of the conversions that became visible in the interval;
//   - polls ClickHouse for the conversions whose credited rows became
//     visible (scripts/bench/internal/chwatch, as scripts/bench/latency
//     does): a conversion's latency is the poll that first saw it minus its
//     timestamp minus --allowed-lateness (which it waits by design).
//
// After the last produce it waits (up to --grace) for every conversion, stops
// the attributor, exports both topics with kcat, sorts them by event time,
// replays them in-process and compares the sorted credited rows with the
// database's credited_conversions view, over every column. It prints a table
// per --window of produce time (latency p50/p99/max, RSS and lag) and exits
// 1 when the view differs from replay, a conversion was never credited, the
// attributor's final exit was not 0, or (with --unique-campaigns) RSS grew.
//
// --unique-campaigns gives every touchpoint a campaign of its own, so the
// dimension table grows by one entry per event unless the attributor
// compacts it; with --max-users among the extra run flags the memory must
// stay flat. In that mode the restarts and the outage are off unless
// --faults is given (a restart would hide a leak), and the run fails when
// the peak RSS of the last third exceeds that of the middle third by more
// than --rss-growth.
//
// That check needs traffic whose work per event does not grow: the
// generator fits every journey into its --span, so in a one-day span the
// early conversions can only come from short journeys (touchpoints before
// a conversion: 2.4 on average in the first sixth of the events, 5.7 in
// the last), and the state per user and the credited rows per conversion
// grow all along. Over five days (the default --span with
// --unique-campaigns) they settle after the first third: 4.44 and 4.47 in
// the middle sixths, 4.60 and 4.75 in the last two. The check prints the
// credited rows per attributed conversion of both thirds beside their RSS.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/scripts/bench/internal/attrproc"
	"github.com/attributor/attributor/scripts/bench/internal/chwatch"
)

type config struct {
	bin, brokers, chAddr, db, tp, cv, dlq, group, metrics, work string
	outageStop, outageStart                                     string
	cluster                                                     string
	duration, interval, window, outage, grace, poll, lateness   time.Duration
	span                                                        time.Duration
	rate                                                        float64
	seed                                                        int64
	unique, faults                                              bool
	rssGrowth                                                   float64
	extra                                                       []string
}

func main() {
	var c config
	flag.StringVar(&c.bin, "attributor", "", "the attributor `binary`")
	flag.StringVar(&c.brokers, "brokers", "127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093", "comma-separated Kafka `brokers`")
	flag.StringVar(&c.chAddr, "clickhouse", "127.0.0.1:19001", "ClickHouse native `host:port`")
	flag.StringVar(&c.db, "database", "", "the attributor's ClickHouse `database` (migrated)")
	flag.StringVar(&c.tp, "touchpoints-topic", "", "touchpoints `topic` (created)")
	flag.StringVar(&c.cv, "conversions-topic", "", "conversions `topic` (created)")
	flag.StringVar(&c.dlq, "dlq-topic", "", "dead-letter `topic` (created)")
	flag.StringVar(&c.group, "group", "", "consumer `group`")
	flag.StringVar(&c.metrics, "metrics-addr", "127.0.0.1:19464", "the attributor's --metrics-addr")
	flag.StringVar(&c.work, "work", "", "`dir` for logs and exported topics")
	flag.StringVar(&c.outageStop, "outage-stop", "", "shell `command` that stops the attributor's ClickHouse")
	flag.StringVar(&c.outageStart, "outage-start", "", "shell `command` that starts it again (and waits until it answers)")
	flag.DurationVar(&c.duration, "duration", 30*time.Minute, "how long to produce")
	flag.DurationVar(&c.span, "span", 24*time.Hour, "time span of the generated traffic, played in --duration (default 120h with --unique-campaigns: stationary traffic)")
	flag.DurationVar(&c.interval, "interval", 30*time.Second, "period of the progress lines")
	flag.DurationVar(&c.window, "window", 5*time.Minute, "produce-time window of the final table")
	flag.DurationVar(&c.outage, "outage", 60*time.Second, "how long ClickHouse stays down")
	flag.DurationVar(&c.grace, "grace", 5*time.Minute, "wait after the last produce for every conversion")
	flag.DurationVar(&c.poll, "poll", 250*time.Millisecond, "ClickHouse poll period (the latency resolution)")
	flag.DurationVar(&c.lateness, "allowed-lateness", 5*time.Second, "the attributor's --allowed-lateness, subtracted from every latency")
	flag.Float64Var(&c.rate, "rate", 2000, "events produced per second")
	flag.Int64Var(&c.seed, "seed", 1, "generator seed")
	flag.BoolVar(&c.unique, "unique-campaigns", false, "a campaign of its own on every touchpoint (memory-flat check)")
	flag.BoolVar(&c.faults, "faults", true, "restarts and the ClickHouse outage (default off with --unique-campaigns)")
	flag.StringVar(&c.cluster, "cluster", "", "the attributor's ClickHouse `cluster`: passed to it as --cluster, and conversions watched through the Distributed table")
	flag.Float64Var(&c.rssGrowth, "rss-growth", 0.25, "with --unique-campaigns: allowed growth of peak RSS from the middle to the last third")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.unique && !set["faults"] {
		c.faults = false
	}
	if c.unique && !set["span"] {
		c.span = 5 * 24 * time.Hour
	}
	c.extra = flag.Args()
	if c.bin == "" || c.db == "" || c.tp == "" || c.cv == "" || c.dlq == "" || c.group == "" || c.work == "" ||
		(c.faults && (c.outageStop == "" || c.outageStart == "")) {
		fmt.Fprintln(os.Stderr, "usage: soak --attributor BIN --database DB --touchpoints-topic T --conversions-topic C --dlq-topic D --group G --work DIR --outage-stop CMD --outage-start CMD [flags] [-- EXTRA RUN FLAGS]")
		os.Exit(2)
	}
	ok, err := run(c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Println("soak: FAIL")
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func say(format string, a ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, a...)...)
}

// sample is one progress reading.
type sample struct {
	at          time.Time
	rssMB       float64
	lag, users  float64
	m           metrics
	incarnation int
}

// soak is the state shared by the producer, the fault schedule and the
// progress loop.
type soak struct {
	c     config
	began time.Time

	mu          sync.Mutex
	proc        *attrproc.Proc
	incarnation int
	produced    map[string]int64 // conversion event_id: produce time (its timestamp), ms
	pending     []string         // conversions produced, not yet seen
	latency     []float64        // ms, of every conversion seen
	byWindow    map[int64][]float64
	interval    []float64 // ms, of the conversions seen since the last progress line
	samples     []sample
	events      []string // restarts and outage, with their offsets
	tags        []tag    // the same, short, for the final table
}

// tag marks a fault in the final table's window: T (SIGTERM), K (SIGKILL),
// O (ClickHouse outage start), B (ClickHouse back).
type tag struct {
	at time.Time
	s  string
}

func (s *soak) tag(t string) {
	s.mu.Lock()
	s.tags = append(s.tags, tag{time.Now(), t})
	s.mu.Unlock()
}

func (s *soak) mark(format string, a ...any) {
	m := fmt.Sprintf("%s %s", offset(time.Since(s.began)), fmt.Sprintf(format, a...))
	s.mu.Lock()
	s.events = append(s.events, m)
	s.mu.Unlock()
	say("# %s", m)
}

func offset(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("+%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (s *soak) runArgs() []string {
	a := []string{s.c.bin, "run", "--brokers", s.c.brokers, "--clickhouse", s.c.chAddr, "--database", s.c.db,
		"--touchpoints-topic", s.c.tp, "--conversions-topic", s.c.cv, "--dlq-topic", s.c.dlq, "--group", s.c.group,
		"--metrics-addr", s.c.metrics, "--allowed-lateness", s.c.lateness.String(), "--log-level", "info", "--progress", "10s"}
	if s.c.cluster != "" {
		a = append(a, "--cluster", s.c.cluster)
	}
	return append(a, s.c.extra...)
}

// start starts a new incarnation of the attributor and waits until its
// group generation started.
func (s *soak) start() error {
	s.mu.Lock()
	s.incarnation++
	n := s.incarnation
	s.mu.Unlock()
	p, err := attrproc.Start(s.runArgs(), filepath.Join(s.c.work, fmt.Sprintf("attributor-%d.log", n)), nil)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	t := time.Now()
	select {
	case <-p.Ready:
	case <-p.Done:
		return fmt.Errorf("attributor %d exited before its group generation started: %v (see attributor-%d.log)", n, p.Err, n)
	case <-time.After(3 * time.Minute):
		return fmt.Errorf("attributor %d: no group generation after 3m (see attributor-%d.log)", n, n)
	}
	s.mark("attributor %d (pid %d) consuming, %.1fs after start", n, p.Cmd.Process.Pid, time.Since(t).Seconds())
	return nil
}

// stop ends the running attributor with sig and returns its exit code.
func (s *soak) stop(sig syscall.Signal) (int, time.Duration) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	t := time.Now()
	if sig == syscall.SIGTERM {
		return p.Stop(), time.Since(t)
	}
	p.Cmd.Process.Signal(sig)
	<-p.Done
	return p.Cmd.ProcessState.ExitCode(), time.Since(t)
}

func (s *soak) restart(sig syscall.Signal) error {
	s.mu.Lock()
	n := s.incarnation
	s.mu.Unlock()
	s.tag(map[syscall.Signal]string{syscall.SIGTERM: "T", syscall.SIGKILL: "K"}[sig])
	code, took := s.stop(sig)
	s.mark("%s attributor %d: exit %d after %.1fs", sigName(sig), n, code, took.Seconds())
	if sig == syscall.SIGTERM && code != 0 {
		return fmt.Errorf("attributor %d exited %d on SIGTERM (see attributor-%d.log)", n, code, n)
	}
	return s.start()
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

func shell(cmd string) error {
	c := exec.Command("bash", "-c", cmd)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", cmd, err, out.String())
	}
	return nil
}

func run(c config) (bool, error) {
	ctx := context.Background()
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return false, err
	}
	traffic, err := generate.New(generate.Config{Seed: c.seed, Events: int(c.rate * c.duration.Seconds()), Duration: c.span})
	if err != nil {
		return false, err
	}
	s := &soak{c: c, produced: map[string]int64{}, byWindow: map[int64][]float64{}}
	say("soak: %d events (a span of %s) at %.0f/s for %s into %s, %s; attributor writes to %s database %s", traffic.Len(), c.span, c.rate, c.duration, c.tp, c.cv, c.chAddr, c.db)
	s.began = time.Now()
	if err := s.start(); err != nil {
		return false, err
	}
	defer func() {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		p.Stop()
	}()
	conn, err := pipeline.OpenClickHouse(ctx, pipeline.ClickHouseConfig{Addr: c.chAddr, Username: "default", DialTimeout: 5 * time.Second})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	w := chwatch.New(conn, c.db)
	if c.cluster != "" {
		w = chwatch.NewDistributed(conn, c.db)
	}

	// Poll ClickHouse; errors (the outage) are counted, not fatal.
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	var pollErrs int
	var pollMu sync.Mutex
	go func() {
		t := time.NewTicker(c.poll)
		defer t.Stop()
		for {
			qctx, cancel := context.WithTimeout(pctx, 10*time.Second)
			if err := w.Poll(qctx, time.Now()); err != nil && pctx.Err() == nil {
				pollMu.Lock()
				pollErrs++
				pollMu.Unlock()
			}
			cancel()
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
		}
	}()

	// Produce.
	brokers := strings.Split(c.brokers, ",")
	p, err := generate.NewKafkaProducer(ctx, generate.KafkaConfig{Addr: brokers[0], TouchpointsTopic: c.tp, ConversionsTopic: c.cv, BatchTimeout: time.Millisecond})
	if err != nil {
		return false, err
	}
	defer p.Close()
	produced := make(chan error, 1)
	go func() {
		dec := schemas.NewDecoder(nil)
		var seq int64
		var ubuf []byte
		produced <- traffic.EmitLive(ctx, c.rate, func(k generate.Kind, key string, v []byte) error {
			if k == generate.Conversion {
				cv, err := dec.Conversion(v)
				if err != nil {
					return fmt.Errorf("generated conversion: %w", err)
				}
				s.mu.Lock()
				if _, dup := s.produced[cv.EventID]; !dup {
					s.produced[cv.EventID] = cv.TimeMs
					s.pending = append(s.pending, cv.EventID)
				}
				s.mu.Unlock()
			} else if c.unique {
				seq++
				ubuf = uniqueCampaign(ubuf[:0], v, seq)
				v = ubuf
			}
			return p.Write(k, key, v)
		}, p.Flush)
	}()

	// The fault schedule.
	faults := make(chan error, 1)
	if c.faults {
		go func() { faults <- s.schedule() }()
	}

	// Progress until the last produce, then until every conversion is seen.
	fmt.Println("time     elapsed  inc  rss_mb  lag      users    produced_conv  seen_conv  interval_p50_ms  interval_p99_ms  interval_max_ms  poll_errors")
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	var lastProduce time.Time
	faultsDone := !c.faults
	for {
		select {
		case err := <-produced:
			if err != nil {
				return false, fmt.Errorf("produce: %w", err)
			}
			lastProduce = time.Now()
			s.mark("last event produced (%d events, %.0f/s)", traffic.Len(), float64(traffic.Len())/time.Since(s.began).Seconds())
			produced = nil
		case err := <-faults:
			if err != nil {
				return false, err
			}
			faultsDone = true
			faults = nil
		case <-tick.C:
		}
		s.collect(w)
		pollMu.Lock()
		pe := pollErrs
		pollMu.Unlock()
		s.progress(pe)
		if !lastProduce.IsZero() && faultsDone {
			s.mu.Lock()
			left := len(s.pending)
			s.mu.Unlock()
			if left == 0 {
				break
			}
			if time.Since(lastProduce) > c.grace {
				s.mark("%d conversions still not credited %s after the last produce", left, c.grace)
				break
			}
		}
	}
	stopPoll()
	s.collect(w)

	ok := true
	s.mu.Lock()
	final := s.incarnation
	lost := len(s.pending)
	s.mu.Unlock()
	code, took := s.stop(syscall.SIGTERM)
	s.mark("SIGTERM attributor %d (final): exit %d after %.1fs", final, code, took.Seconds())
	if code != 0 {
		say("FAIL: the final attributor exited %d (see attributor-%d.log)", code, final)
		ok = false
	}
	if lost > 0 {
		say("FAIL: %d of %d conversions never credited", lost, len(s.produced))
		ok = false
	}
	s.table()
	if c.unique && !s.memoryFlat() {
		ok = false
	}

	equal, err := s.compare(ctx, conn, brokers)
	if err != nil {
		return false, err
	}
	return ok && equal, nil
}

// schedule runs the restarts and the outage at their fractions of the
// duration.
func (s *soak) schedule() error {
	at := func(f float64) { time.Sleep(time.Until(s.began.Add(time.Duration(f * float64(s.c.duration))))) }
	at(0.20)
	if err := s.restart(syscall.SIGTERM); err != nil {
		return err
	}
	at(0.40)
	if err := s.restart(syscall.SIGKILL); err != nil {
		return err
	}
	at(0.55)
	s.mark("ClickHouse outage: %s", s.c.outageStop)
	s.tag("O")
	if err := shell(s.c.outageStop); err != nil {
		return err
	}
	time.Sleep(s.c.outage)
	t := time.Now()
	if err := shell(s.c.outageStart); err != nil {
		return err
	}
	s.tag("B")
	s.mark("ClickHouse back (%s took %.1fs)", s.c.outageStart, time.Since(t).Seconds())
	at(0.75)
	return s.restart(syscall.SIGTERM)
}

// uniqueCampaign appends v to b with the campaign replaced by one that no
// other touchpoint has.
func uniqueCampaign(b, v []byte, seq int64) []byte {
	const field = `"campaign":"`
	if i := bytes.Index(v, []byte(field)); i >= 0 {
		b = append(b, v[:i+len(field)]...)
		b = append(b, 'u')
		b = strconv.AppendInt(b, seq, 10)
		b = append(b, '-')
		return append(b, v[i+len(field):]...)
	}
	i := bytes.LastIndexByte(v, '}')
	b = append(b, v[:i]...)
	b = append(b, `,"campaign":"u`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, '"')
	return append(b, v[i:]...)
}

// collect moves the conversions seen since the last call from pending to
// the latencies.
func (s *soak) collect(w *chwatch.Watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	began := s.began.UnixMilli()
	win := s.c.window.Milliseconds()
	left := s.pending[:0]
	for _, id := range s.pending {
		at, ok := w.Seen(id)
		if !ok {
			left = append(left, id)
			continue
		}
		ms := s.produced[id]
		l := float64(at.UnixMilli() - ms - s.c.lateness.Milliseconds())
		s.latency = append(s.latency, l)
		s.interval = append(s.interval, l)
		k := (ms - began) / win
		s.byWindow[k] = append(s.byWindow[k], l)
	}
	s.pending = left
}

// progress prints one line and records a sample.
func (s *soak) progress(pollErrs int) {
	s.mu.Lock()
	p, n := s.proc, s.incarnation
	iv := slices.Clone(s.interval)
	s.interval = s.interval[:0]
	nProduced, nSeen := len(s.produced), len(s.latency)
	s.mu.Unlock()
	smp := sample{at: time.Now(), incarnation: n, rssMB: -1, lag: -1, users: -1}
	select {
	case <-p.Done:
	default:
		smp.rssMB = rssMB(p.Cmd.Process.Pid)
		smp.m = scrape(s.c.metrics)
		smp.lag, smp.users = smp.m.lag, smp.m.users
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	slices.Sort(iv)
	q := func(v float64) string {
		if len(iv) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", v)
	}
	var p50, p99, mx float64
	if len(iv) > 0 {
		p50, p99, mx = quantile(iv, 0.5), quantile(iv, 0.99), iv[len(iv)-1]
	}
	fmt.Printf("%s %-8s %-4d %-7s %-8s %-8s %-14d %-10d %-16s %-16s %-16s %d\n",
		smp.at.UTC().Format("15:04:05"), offset(smp.at.Sub(s.began)), n, num(smp.rssMB), num(smp.lag), num(smp.users),
		nProduced, nSeen, q(p50), q(p99), q(mx), pollErrs)
}

func num(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

// rssMB reads VmRSS of pid, in MiB; -1 when unreadable.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// metrics are the attributor's figures the soak reads: each the sum of its
// series, -1 when unread.
type metrics struct {
	lag, users          float64
	creditedRows, convs float64 // counters since the attributor started
}

// scrape reads the metrics from the Prometheus endpoint.
func scrape(addr string) metrics {
	m := metrics{-1, -1, -1, -1}
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		name, rest, _ := strings.Cut(l, " ")
		name, _, _ = strings.Cut(name, "{")
		if i := strings.LastIndexByte(l, ' '); i >= 0 {
			rest = l[i+1:]
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			continue
		}
		switch name {
		case "attributor_consumer_lag":
			m.lag = max(m.lag, 0) + v
		case "attributor_users_in_memory":
			m.users = max(m.users, 0) + v
		case "attributor_rows_credited_total":
			m.creditedRows = max(m.creditedRows, 0) + v
		case "attributor_conversions_attributed_total":
			m.convs = max(m.convs, 0) + v
		}
	}
	return m
}

// quantile returns the q-quantile of sorted v, nearest rank.
func quantile(v []float64, q float64) float64 {
	i := int(q*float64(len(v))+0.999999) - 1
	return v[max(0, min(len(v)-1, i))]
}

// table prints the curve per window of produce time: the latency of the
// conversions produced in it, and the RSS and lag sampled in it.
func (s *soak) table() {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("\nper %s of produce time (latency = credited row visible - event time - allowed lateness;\n", s.c.window)
	fmt.Println("rss, lag, users: the largest sampled in the window; faults: T SIGTERM, K SIGKILL, O ClickHouse down, B back):")
	fmt.Println("window         conversions  p50_ms  p99_ms  max_ms  rss_mb_max  lag_max  users_max  faults")
	keys := make([]int64, 0, len(s.byWindow))
	for k := range s.byWindow {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := s.byWindow[k]
		slices.Sort(v)
		from := s.began.Add(time.Duration(k) * s.c.window)
		to := from.Add(s.c.window)
		rss, lag, users := -1.0, -1.0, -1.0
		for _, m := range s.samples {
			if !m.at.Before(from) && m.at.Before(to) {
				rss, lag, users = max(rss, m.rssMB), max(lag, m.lag), max(users, m.users)
			}
		}
		var faults []string
		for _, t := range s.tags {
			if !t.at.Before(from) && t.at.Before(to) {
				faults = append(faults, offset(t.at.Sub(s.began))+t.s)
			}
		}
		fmt.Printf("%s-%s  %-11d  %-6.0f  %-6.0f  %-6.0f  %-10s  %-7s  %-9s  %s\n", offset(from.Sub(s.began)), offset(to.Sub(s.began)),
			len(v), quantile(v, 0.5), quantile(v, 0.99), v[len(v)-1], num(rss), num(lag), num(users), strings.Join(faults, " "))
	}
	all := slices.Clone(s.latency)
	slices.Sort(all)
	if len(all) > 0 {
		fmt.Printf("all: %d conversions, latency p50 %.0f ms, p99 %.0f ms, max %.0f ms (resolution %s)\n",
			len(all), quantile(all, 0.5), quantile(all, 0.99), all[len(all)-1], s.c.poll)
	}
	fmt.Println("events:")
	for _, e := range s.events {
		fmt.Println("  " + e)
	}
}

// memoryFlat compares the peak RSS of the last third of the samples with
// that of the middle third, and prints the credited rows per conversion
// attributed in each: the work per event, which must not grow either for
// the comparison to mean anything.
func (s *soak) memoryFlat() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mid, last float64
	n := len(s.samples)
	for i, m := range s.samples {
		switch {
		case i >= 2*n/3:
			last = max(last, m.rssMB)
		case i >= n/3:
			mid = max(mid, m.rssMB)
		}
	}
	work := fmt.Sprintf("credited rows per conversion %s in the middle third, %s in the last",
		s.rowsPerConv(n/3, 2*n/3), s.rowsPerConv(2*n/3, n-1))
	growth := last/mid - 1
	if mid <= 0 || growth > s.c.rssGrowth {
		say("FAIL: memory not flat: peak RSS %.0f MiB in the middle third, %.0f MiB in the last (+%.0f%%, allowed +%.0f%%); %s", mid, last, 100*growth, 100*s.c.rssGrowth, work)
		return false
	}
	say("memory flat: peak RSS %.0f MiB in the middle third, %.0f MiB in the last (%+.0f%%, allowed +%.0f%%); %s", mid, last, 100*growth, 100*s.c.rssGrowth, work)
	return true
}

// rowsPerConv returns the credited rows per conversion attributed between
// samples i and j, "-" when unknown (unread, or a restart between them).
func (s *soak) rowsPerConv(i, j int) string {
	if i < 0 || j >= len(s.samples) || i >= j {
		return "-"
	}
	a, b := s.samples[i], s.samples[j]
	if a.incarnation != b.incarnation || a.m.convs < 0 || b.m.convs <= a.m.convs {
		return "-"
	}
	return fmt.Sprintf("%.1f", (b.m.creditedRows-a.m.creditedRows)/(b.m.convs-a.m.convs))
}

// compare exports both topics, replays them and compares the rows with the
// view credited_conversions.
func (s *soak) compare(ctx context.Context, conn driver.Conn, brokers []string) (bool, error) {
	t := time.Now()
	tps, err := export(brokers, s.c.tp)
	if err != nil {
		return false, err
	}
	cvs, err := export(brokers, s.c.cv)
	if err != nil {
		return false, err
	}
	dec := schemas.NewDecoder(nil)
	if err := sortByTime(tps, func(b []byte) (int64, error) { e, err := dec.Touchpoint(b); return e.TimeMs, err }); err != nil {
		return false, fmt.Errorf("exported touchpoints: %w", err)
	}
	if err := sortByTime(cvs, func(b []byte) (int64, error) { e, err := dec.Conversion(b); return e.TimeMs, err }); err != nil {
		return false, fmt.Errorf("exported conversions: %w", err)
	}
	var want []schemas.CreditedRow
	sink := replay.RowSinkFunc(func(r *schemas.CreditedRow) error { want = append(want, *r); return nil })
	if _, err := replay.Run(ctx, replay.Config{}, replay.Input{Name: "touchpoints", R: lines(tps)},
		replay.Input{Name: "conversions", R: lines(cvs)}, sink, io.Discard); err != nil {
		return false, fmt.Errorf("replay: %w", err)
	}
	got, err := credited(ctx, conn, s.c.db)
	if err != nil {
		return false, err
	}
	say("view == replay? exported %d touchpoints and %d conversions from Kafka; replay: %d credited rows; view: %d rows (%.1fs)",
		len(tps), len(cvs), len(want), len(got), time.Since(t).Seconds())
	if len(want) == 0 {
		say("FAIL: replay credited nothing: the comparison would prove nothing")
		return false, nil
	}
	// Sorted and compared in place first: pipelinetest.Diff's multiset map
	// of every row would take several times the rows' memory (7.5M rows:
	// 14 GB); it only runs to describe a difference.
	slices.SortFunc(want, compareRows)
	slices.SortFunc(got, compareRows)
	if slices.Equal(want, got) {
		say("view == replay: %d credited rows equal over every column", len(got))
		return true, nil
	}
	if d := pipelinetest.Diff(want, got, 20); d != "" {
		path := filepath.Join(s.c.work, "diff.txt")
		os.WriteFile(path, []byte(pipelinetest.Diff(want, got, 1000)), 0o644)
		say("FAIL: view != replay (first differences below, more in %s):\n%s", path, firstLines(d, 60))
		return false, nil
	}
	say("view == replay: %d credited rows equal over every column", len(got))
	return true, nil
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// compareRows orders rows by every column.
func compareRows(a, b schemas.CreditedRow) int {
	return cmp.Or(
		strings.Compare(a.ConversionID, b.ConversionID), strings.Compare(a.Model, b.Model),
		strings.Compare(a.TouchpointID, b.TouchpointID), cmp.Compare(a.Position, b.Position),
		strings.Compare(a.ConversionType, b.ConversionType), strings.Compare(a.UserKey, b.UserKey),
		strings.Compare(a.Channel, b.Channel), strings.Compare(a.Source, b.Source), strings.Compare(a.Medium, b.Medium),
		strings.Compare(a.Campaign, b.Campaign), strings.Compare(a.Interaction, b.Interaction),
		cmp.Compare(a.Credit, b.Credit), cmp.Compare(a.RevenueMicros, b.RevenueMicros),
		strings.Compare(a.Currency, b.Currency), cmp.Compare(a.TouchpointTimeMs, b.TouchpointTimeMs),
		cmp.Compare(a.ConversionTimeMs, b.ConversionTimeMs), cmp.Compare(a.PathLength, b.PathLength))
}

// export reads a topic from its beginning to its end with kcat.
func export(brokers []string, topic string) ([][]byte, error) {
	cmd := exec.Command("kcat", "-C", "-b", strings.Join(brokers, ","), "-t", topic, "-e", "-q", "-f", "%s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kcat export %s: %w: %s", topic, err, stderr.String())
	}
	var msgs [][]byte
	for l := range bytes.SplitSeq(out, []byte{'\n'}) {
		if len(l) > 0 {
			msgs = append(msgs, l)
		}
	}
	return msgs, nil
}

// sortByTime sorts messages by event time, stably (replay's merge-join
// needs time-sorted inputs; the stream sees them in partition order).
func sortByTime(msgs [][]byte, timeOf func([]byte) (int64, error)) error {
	ts := make(map[*byte]int64, len(msgs))
	for _, m := range msgs {
		t, err := timeOf(m)
		if err != nil {
			return fmt.Errorf("%w: %s", err, m)
		}
		ts[&m[0]] = t
	}
	slices.SortStableFunc(msgs, func(a, b []byte) int {
		ta, tb := ts[&a[0]], ts[&b[0]]
		switch {
		case ta < tb:
			return -1
		case ta > tb:
			return 1
		}
		return 0
	})
	return nil
}

func lines(msgs [][]byte) io.Reader {
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m)
		b.WriteByte('\n')
	}
	return &b
}

// credited reads the view credited_conversions, the columns replay prints.
func credited(ctx context.Context, conn driver.Conn, db string) ([]schemas.CreditedRow, error) {
	rows, err := conn.Query(ctx, `SELECT conversion_id, conversion_type, user_key, model, touchpoint_id, channel, source, medium,
		campaign, interaction, credit, revenue_micros, currency, touchpoint_ts_ms, conversion_ts_ms, position, path_length
		FROM `+db+`.credited_conversions`)
	if err != nil {
		return nil, fmt.Errorf("read credited_conversions: %w", err)
	}
	defer rows.Close()
	var out []schemas.CreditedRow
	for rows.Next() {
		var r schemas.CreditedRow
		var pos, plen uint32
		if err := rows.Scan(&r.ConversionID, &r.ConversionType, &r.UserKey, &r.Model, &r.TouchpointID, &r.Channel, &r.Source, &r.Medium,
			&r.Campaign, &r.Interaction, &r.Credit, &r.RevenueMicros, &r.Currency, &r.TouchpointTimeMs, &r.ConversionTimeMs, &pos, &plen); err != nil {
			return nil, fmt.Errorf("read credited_conversions: %w", err)
		}
		r.Position, r.PathLength = int(pos), int(plen)
		out = append(out, r)
	}
	return out, rows.Err()
}
