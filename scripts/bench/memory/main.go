// Command memory measures the attributor's resident memory per touchpoint
// held in its state:
//
//	memory [flags] -- ATTRIBUTOR RUN ARGS...
//
// It creates the topics, starts the attributor command given after "--"
// (which must log at info level, serve --metrics-addr at --metrics, and use
// a lookback that keeps the touchpoints: they span the last day), waits for
// its group generation and reads its VmRSS with an empty state (the
// baseline). Then it produces --users x --per-user touchpoints and no
// conversions, so that nothing is released or pruned, and waits until the
// attributor has consumed and written them all with no lag. After --settle
// it reads VmRSS again: (RSS - baseline) / touchpoints is the resident
// memory per held touchpoint.
//
// The touchpoints look like the generator's (pipeline/generate): a UUID
// event_id, user_id or only anonymous_id keys, an anonymous_id on half the
// events, a channel named on 70% (derived from source/medium on the rest),
// source, medium, campaign, cost. A user's touchpoints are spread over the
// day; the stream is in timestamp order.
//
// The process's CPU time (utime + stime of /proc/PID/stat) from the first
// produced touchpoint to the catch-up is reported, with the touchpoints per
// second over that time: the cost of the ingest, GC included. When the
// attributor logs a memory limit at start (`attributor run --memory-limit`,
// or GOMEMLIMIT, at info level), the limit is reported too. held_all is 1
// when the attributor consumed and wrote every touchpoint, holds every user
// and has no lag; when that does not happen within --timeout, the figures
// measured by then are still reported, with held_all 0.
//
// When the attributor runs with GODEBUG=gctrace=1, its live heap after each
// GC (from the trace on its stderr) is reported too, and the time the GC
// cycles during the ingest took on the runtime's Ps (the trace's "ms cpu":
// stop-the-world phases, assists and background marking, not the idle-time
// marking, which only uses otherwise idle cores). That time is measured in
// wall-clock time while on a P, so it exceeds the CPU time actually used
// when the machine is oversubscribed; the process's CPU time is the
// figure to compare. A cycle during the
// ingest also counts what was allocated while it marked, so the program
// then waits (up to --idle-gc) for the runtime's periodic GC of an idle
// process (every 2 minutes): its live heap, minus the baseline's, per
// touchpoint, is the Go heap the state holds; RSS read after it shows what
// the runtime has given back by then. RSS at catch-up adds to the live
// state the GC's headroom (GOGC) and the pages the ingest left behind.
//
// Results go to stdout as "metric<TAB>value" lines.
package main

import (
	"github.com/attributor/attributor/scripts/bench/internal/attrproc"

	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
)

func main() {
	var (
		broker     = flag.String("brokers", "127.0.0.1:9092", "Kafka broker `host:port`")
		tpTopic    = flag.String("touchpoints-topic", "", "touchpoints `topic` (created)")
		cvTopic    = flag.String("conversions-topic", "", "conversions `topic` (created, left empty)")
		partitions = flag.Int("partitions", 4, "partitions of the created topics")
		users      = flag.Int("users", 1_000_000, "users")
		perUser    = flag.Int("per-user", 5, "touchpoints per user")
		seed       = flag.Uint64("seed", 1, "seed of the touchpoints")
		metrics    = flag.String("metrics", "", "the attributor's metrics `URL` (http://host:port/metrics)")
		settle     = flag.Duration("settle", 10*time.Second, "wait after the last touchpoint is written before reading RSS")
		timeout    = flag.Duration("timeout", 30*time.Minute, "give up when the attributor has not caught up by then")
		idleGC     = flag.Duration("idle-gc", 150*time.Second, "with gctrace, wait this long for the idle process's periodic GC (0: do not)")
		logPath    = flag.String("log", "", "write the attributor's stderr to `file`")
	)
	flag.Parse()
	if *tpTopic == "" || *cvTopic == "" || *metrics == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: memory --touchpoints-topic T --conversions-topic C --metrics URL [flags] -- ATTRIBUTOR RUN ARGS...")
		os.Exit(2)
	}
	m := &measure{broker: *broker, tpTopic: *tpTopic, cvTopic: *cvTopic, partitions: *partitions, users: *users, perUser: *perUser,
		seed: *seed, metrics: *metrics, settle: *settle, timeout: *timeout, idleGC: *idleGC}
	if err := m.run(*logPath, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "memory: %v\n", err)
		os.Exit(1)
	}
}

func result(metric string, v any) { fmt.Printf("%s\t%v\n", metric, v) }

type measure struct {
	broker, tpTopic, cvTopic string
	partitions               int
	users, perUser           int
	seed                     uint64
	metrics                  string
	settle, timeout, idleGC  time.Duration
}

func (m *measure) run(logPath string, attributor []string) error {
	ctx := context.Background()
	if err := generate.EnsureTopics(ctx, m.broker, m.partitions, m.tpTopic, m.cvTopic); err != nil {
		return err
	}
	proc := &proc{}
	ap, err := attrproc.Start(attributor, logPath, func(line string) { proc.traceLine(line) })
	if err != nil {
		return err
	}
	proc.Proc = ap
	defer proc.Stop()
	select {
	case <-proc.Ready:
	case <-proc.Done:
		return fmt.Errorf("attributor exited before its group generation started: %v", proc.Err)
	case <-time.After(90 * time.Second):
		return errors.New("attributor: no group generation after 90s")
	}
	// Let the fetchers start on the empty partitions before the baseline.
	time.Sleep(3 * time.Second)
	pid := proc.Cmd.Process.Pid
	baseline, err := rssKB(pid, "VmRSS")
	if err != nil {
		return err
	}
	gcBase := proc.gc()
	cpuBase, err := cpuSeconds(pid)
	if err != nil {
		return err
	}

	n := m.users * m.perUser
	began := time.Now()
	if err := m.produce(ctx); err != nil {
		return err
	}
	produced := time.Since(began)

	deadline := time.Now().Add(m.timeout)
	var s scrape
	held := false
	for {
		if s, err = m.scrape(); err != nil {
			return err
		}
		if s.events >= float64(n) && s.rawRows >= float64(n) && s.lag == 0 {
			held = s.users == float64(m.users)
			break
		}
		select {
		case <-proc.Done:
			return fmt.Errorf("attributor exited while consuming: %v", proc.Err)
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "memory: not caught up after %s: %+v; reporting what was measured\n", m.timeout, s)
			break
		}
	}
	caughtUp := time.Since(began)
	cpuIngest, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	cpuIngest -= cpuBase
	gcIngest := proc.gc()
	time.Sleep(m.settle)
	rss, err := rssKB(pid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, err := rssKB(pid, "VmHWM")
	if err != nil {
		return err
	}
	if s, err = m.scrape(); err != nil {
		return err
	}
	gcEnd := proc.gc()
	// The periodic GC of the now idle process measures the state alone.
	var idle gcTrace
	var idleRSS int64
	if gcEnd.cycles > 0 && m.idleGC > 0 {
		for wait := time.Now().Add(m.idleGC); time.Now().Before(wait); time.Sleep(time.Second) {
			if g := proc.gc(); g.cycles > gcEnd.cycles {
				idle = g
				break
			}
		}
		if idle.cycles > 0 {
			time.Sleep(5 * time.Second) // let the scavenger return what it will
			if idleRSS, err = rssKB(pid, "VmRSS"); err != nil {
				return err
			}
		}
	}
	code := proc.Stop()
	// A heap profile (--memprofile) forces a GC when the attributor is
	// stopped. After the idle GC, that second cycle no longer counts what
	// sync.Pools cached (a pool's contents survive one GC).
	stopGC := proc.gc()
	if idle.cycles == 0 || stopGC.cycles <= idle.cycles || !stopGC.lastForced {
		stopGC = gcTrace{}
	}

	tps := float64(n)
	if gcEnd.cycles > 0 {
		result("gc_cycles", gcEnd.cycles-gcBase.cycles)
		result("gc_cycles_ingest", gcIngest.cycles-gcBase.cycles)
		result("gc_cpu_seconds_ingest", fmt.Sprintf("%.2f", (gcIngest.cpuMs-gcBase.cpuMs)/1000))
		result("live_heap_mib_baseline", gcBase.live)
		result("live_heap_mib_last", gcEnd.live)
		result("live_heap_mib_max", gcEnd.maxLive)
		result("heap_goal_mib_last", gcEnd.goal)
		result("live_heap_bytes_per_tp", fmt.Sprintf("%.1f", float64(gcEnd.maxLive-gcBase.live)*(1<<20)/tps))
		result("live_heap_last_bytes_per_tp", fmt.Sprintf("%.1f", float64(gcEnd.live-gcBase.live)*(1<<20)/tps))
	}
	if idle.cycles > 0 {
		result("idle_gc_live_heap_mib", idle.live)
		result("idle_gc_heap_goal_mib", idle.goal)
		result("idle_gc_live_bytes_per_tp", fmt.Sprintf("%.1f", float64(idle.live-gcBase.live)*(1<<20)/tps))
		result("idle_gc_rss_kb", idleRSS)
		result("idle_gc_rss_bytes_per_tp", fmt.Sprintf("%.1f", float64(idleRSS-baseline)*1024/tps))
	}
	if stopGC.cycles > 0 {
		result("stop_gc_live_heap_mib", stopGC.live)
		result("stop_gc_live_bytes_per_tp", fmt.Sprintf("%.1f", float64(stopGC.live-gcBase.live)*(1<<20)/tps))
	}
	if limit := proc.limit(); limit > 0 {
		result("memory_limit_bytes", limit)
	}
	result("touchpoints", n)
	result("users_in_memory", s.users)
	result("held_all", boolInt(held))
	result("produce_seconds", fmt.Sprintf("%.1f", produced.Seconds()))
	result("caught_up_seconds", fmt.Sprintf("%.1f", caughtUp.Seconds()))
	result("ingest_touchpoints_per_s", fmt.Sprintf("%.0f", s.events/caughtUp.Seconds()))
	result("cpu_seconds_ingest", fmt.Sprintf("%.2f", cpuIngest))
	result("baseline_rss_kb", baseline)
	result("rss_kb", rss)
	result("hwm_kb", hwm)
	result("bytes_per_tp", fmt.Sprintf("%.1f", float64(rss-baseline)*1024/tps))
	result("hwm_bytes_per_tp", fmt.Sprintf("%.1f", float64(hwm-baseline)*1024/tps))
	result("attributor_exit", code)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// placement is a source/medium pair of a channel, as the generator has them.
type placement struct {
	channel, source, medium string
	campaigns               []string
	impressions             float64 // share of impressions
	cost                    bool
}

var placements = []placement{
	{"paid_search", "google", "cpc", []string{"brand", "generic", "black_friday", "competitors"}, 0, true},
	{"paid_search", "bing", "cpc", []string{"brand", "generic", "black_friday"}, 0, true},
	{"paid_social", "facebook", "paid_social", []string{"prospecting", "retargeting", "black_friday"}, 0.35, true},
	{"paid_social", "instagram", "cpc", []string{"prospecting", "retargeting", "black_friday"}, 0.35, true},
	{"display", "gdn", "display", []string{"prospecting", "retargeting", "black_friday"}, 0.9, true},
	{"display", "programmatic", "cpm", []string{"prospecting", "retargeting"}, 0.92, true},
	{"affiliate", "awin", "affiliate", []string{"cashback", "voucher_codes", "content"}, 0, false},
	{"email", "newsletter", "email", []string{"newsletter_w47", "newsletter_w48", "black_friday_early_access", "cart_reminder"}, 0, false},
	{"organic_search", "google", "organic", nil, 0, false},
	{"social", "facebook", "social", nil, 0, false},
	{"referral", "blog.example.com", "referral", nil, 0, false},
	{"direct", "(direct)", "(none)", nil, 0, false},
}

// produce writes the touchpoints: round k holds every user's k-th
// touchpoint, so the stream is in timestamp order.
func (m *measure) produce(ctx context.Context) error {
	p, err := generate.NewKafkaProducer(ctx, generate.KafkaConfig{Addr: m.broker, TouchpointsTopic: m.tpTopic, ConversionsTopic: m.cvTopic})
	if err != nil {
		return err
	}
	defer p.Close()
	rng := rand.New(rand.NewPCG(m.seed, 0))
	n := m.users * m.perUser
	start := time.Now().Add(-24 * time.Hour).UnixMilli()
	span := int64(20 * time.Hour / time.Millisecond)
	anon := make([]string, m.users)
	for u := range anon {
		anon[u] = fmt.Sprintf("anon-%012x", rng.Uint64()>>16)
	}
	buf := make([]byte, 0, 512)
	for k := 0; k < m.perUser; k++ {
		for u := 0; u < m.users; u++ {
			i := int64(k*m.users + u)
			key := anon[u]
			userID := ""
			if u%20 >= 3 { // 15% of users are anonymous
				userID = fmt.Sprintf("u%07d", u+1)
				key = userID
			}
			buf = appendTouchpoint(buf[:0], rng, userID, anon[u], start+i*span/int64(n))
			if err := p.Write(generate.Touchpoint, key, buf); err != nil {
				return err
			}
		}
	}
	return p.Flush()
}

func appendTouchpoint(b []byte, rng *rand.Rand, userID, anonID string, ms int64) []byte {
	pl := &placements[rng.IntN(len(placements))]
	b = append(b, `{"event_id":"`...)
	hi, lo := rng.Uint64(), rng.Uint64()
	b = fmt.Appendf(b, "%08x-%04x-4%03x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xfff, lo>>48&0x3fff|0x8000, lo&0xffffffffffff)
	b = append(b, '"')
	if userID != "" {
		b = append(b, `,"user_id":"`...)
		b = append(b, userID...)
		b = append(b, '"')
	}
	if userID == "" || rng.IntN(2) == 0 {
		b = append(b, `,"anonymous_id":"`...)
		b = append(b, anonID...)
		b = append(b, '"')
	}
	b = append(b, `,"timestamp":"`...)
	b = time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	impression := rng.Float64() < pl.impressions
	if impression {
		b = append(b, `,"interaction":"impression"`...)
	} else {
		b = append(b, `,"interaction":"click"`...)
	}
	if rng.Float64() < 0.7 {
		b = append(b, `,"channel":"`...)
		b = append(b, pl.channel...)
		b = append(b, '"')
	}
	b = append(b, `,"source":"`...)
	b = append(b, pl.source...)
	b = append(b, `","medium":"`...)
	b = append(b, pl.medium...)
	b = append(b, '"')
	if len(pl.campaigns) > 0 {
		b = append(b, `,"campaign":"`...)
		b = append(b, pl.campaigns[rng.IntN(len(pl.campaigns))]...)
		b = append(b, '"')
	}
	if pl.cost {
		cents := 20 + rng.IntN(280)
		if impression {
			b = fmt.Appendf(b, `,"cost":0.00%d`, 2+rng.IntN(8))
		} else {
			b = fmt.Appendf(b, `,"cost":%d.%02d`, cents/100, cents%100)
		}
	}
	return append(b, '}')
}

// scrape is what the attributor's /metrics says.
type scrape struct {
	events, rawRows, lag, users float64
}

func (m *measure) scrape() (scrape, error) {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return scrape{}, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	var s scrape
	found := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch {
		case name == "attributor_events_total" && strings.Contains(labels, `topic="`+m.tpTopic+`"`):
			s.events += value
		case name == "attributor_rows_raw_total":
			s.rawRows += value
		case name == "attributor_consumer_lag":
			s.lag += value
		case name == "attributor_users_in_memory":
			s.users += value
		default:
			continue
		}
		found[name] = true
	}
	if err := sc.Err(); err != nil {
		return scrape{}, fmt.Errorf("metrics: %w", err)
	}
	for _, name := range []string{"attributor_events_total", "attributor_consumer_lag"} {
		if !found[name] {
			return scrape{}, fmt.Errorf("metrics: no %s at %s", name, m.metrics)
		}
	}
	return s, nil
}

// parseSample splits a Prometheus text sample: name{labels} value.
func parseSample(line string) (name, labels string, value float64, ok bool) {
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", "", 0, false
	}
	head := line[:sp]
	if i := strings.IndexByte(head, '{'); i >= 0 {
		return head[:i], head[i:], v, true
	}
	return head, "", v, true
}

// rssKB reads a field of /proc/PID/status, in kB.
func rssKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// cpuSeconds reads the user and system CPU time of process pid from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s: USER_HZ is
// 100 on Linux whatever the kernel's HZ).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:])) // from field 3 on
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(utime+stime) / 100, nil
}

// proc is the attributor process, with the GC trace it prints.
type proc struct {
	*attrproc.Proc

	mu       sync.Mutex
	gcSeen   gcTrace
	memLimit int64
}

// gcTrace sums up the GODEBUG=gctrace=1 lines seen so far, in MiB.
type gcTrace struct {
	cycles              int
	live, maxLive, goal int64   // heap live after the last cycle, the largest, the last goal
	cpuMs               float64 // CPU time of the cycles, idle marking left out
	lastForced          bool    // the last cycle was forced (runtime.GC)
}

// gcLine matches "... 0.2+1.5/30/12+0.1 ms cpu, 120->125->60 MB, 130 MB
// goal, ..." of a gctrace line: stop-the-world sweep termination, assist /
// background / idle marking, stop-the-world mark termination.
var gcLine = regexp.MustCompile(`^gc \d+ @.* ([\d.]+)\+([\d.]+)/([\d.]+)/([\d.]+)\+([\d.]+) ms cpu, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// limitLine matches the attributor's log line of the memory limit in force.
var limitLine = regexp.MustCompile(`msg="memory limit" .*\bbytes=(\d+)`)

func (p *proc) traceLine(line string) {
	if m := limitLine.FindStringSubmatch(line); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		p.mu.Lock()
		p.memLimit = n
		p.mu.Unlock()
		return
	}
	m := gcLine.FindStringSubmatch(line)
	if m == nil {
		return
	}
	var cpu float64
	for _, i := range []int{1, 2, 3, 5} {
		v, _ := strconv.ParseFloat(m[i], 64)
		cpu += v
	}
	live, _ := strconv.ParseInt(m[8], 10, 64)
	goal, _ := strconv.ParseInt(m[9], 10, 64)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gcSeen.cycles++
	p.gcSeen.live, p.gcSeen.goal = live, goal
	p.gcSeen.maxLive = max(p.gcSeen.maxLive, live)
	p.gcSeen.cpuMs += cpu
	p.gcSeen.lastForced = strings.HasSuffix(line, "(forced)")
}

func (p *proc) limit() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.memLimit
}

func (p *proc) gc() gcTrace {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gcSeen
}
