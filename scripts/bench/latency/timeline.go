package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The timeline (--timeline) lays out, second by second of the run, where
// the cores went and what ClickHouse did, beside the latency of the
// conversions produced in that second: what the tail is made of. Every
// figure is read from outside the processes measured (/proc, and one
// query a second of ClickHouse's own counters), so that asking does not
// change the answer much: one small query a second.

// procCPU is the CPU time of a process (utime + stime), in clock ticks.
func procCPU(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	return statTicks(b)
}

// statTicks reads utime + stime from a /proc/<pid>/stat line; the command
// name (field 2) may hold spaces, so the fields are counted after its ')'.
func statTicks(b []byte) (int64, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is f[0]; utime f[11], stime f[12]
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}

// machineBusy returns the ticks the machine's CPUs spent not idle (nor
// waiting for I/O), from /proc/stat.
func machineBusy() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are in user already
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return busy
}

// findProcs returns the pids of the processes whose comm is comm, or whose
// command line contains cmdline (each when not empty).
func findProcs(comm, cmdline string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if c, err := os.ReadFile(d + "/comm"); err == nil && comm != "" && strings.TrimSpace(string(c)) == comm {
			out = append(out, pid)
			continue
		}
		if cmdline != "" {
			if c, err := os.ReadFile(d + "/cmdline"); err == nil && bytes.Contains(c, []byte(cmdline)) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// threadCPU sums the CPU ticks of pid's threads by name: merges
// (BackgrProcPool), connections (TCPHandler: inserts, their views and
// queries), and the rest.
func threadCPU(pid int) (tcp, merge, other int64) {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/[0-9]*")
	for _, t := range tasks {
		b, err := os.ReadFile(t + "/stat")
		if err != nil {
			continue
		}
		n, ok := statTicks(b)
		if !ok {
			continue
		}
		name := ""
		if i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')'); i >= 0 && j > i {
			name = string(b[i+1 : j])
		}
		switch {
		case strings.HasPrefix(name, "TCPHandler"):
			tcp += n
		case strings.HasPrefix(name, "BackgrProcPool"):
			merge += n
		default:
			other += n
		}
	}
	return tcp, merge, other
}

// chCounters are ClickHouse's server-wide counters (system.events) read by
// the sampler.
var chCounters = []string{"InsertQuery", "InsertedRows", "SelectQuery", "Merge", "MergedRows",
	"OSCPUWaitMicroseconds", "OSCPUVirtualTimeMicroseconds"}

// sample is one second's reading; the rows are differences of two.
type sample struct {
	at                    time.Time
	load1                 string
	busy, tool, attr      int64
	ch, chTCP, chMerge    int64
	kafka, burner         int64
	events                map[string]int64
	merges, parts         int64
	emitted, due          int64 // producer: events emitted, events due by then
	flushMaxUs, pollMaxUs int64 // longest producer flush, poll, in the second before
	polls                 int64
	procs                 map[int]procTicks // every process, for the largest of the others
}

type procTicks struct {
	comm  string
	ticks int64
}

// allProcs reads the CPU ticks of every process.
func allProcs() map[int]procTicks {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := make(map[int]procTicks, len(dirs))
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		n, ok := statTicks(b)
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if !ok || i < 0 || j < i {
			continue
		}
		out[pid] = procTicks{string(b[i+1 : j]), n}
	}
	return out
}

// topOther names the process (by command name, summed) that took the most
// CPU between p and x among those not measured on their own.
func (s *sampler) topOther(p, x sample) (string, int64) {
	known := map[int]bool{s.selfPid: true, s.attrPid: true}
	for _, l := range [][]int{s.chPids, s.kafkaPid, s.burners} {
		for _, pid := range l {
			known[pid] = true
		}
	}
	by := map[string]int64{}
	for pid, t := range x.procs {
		if known[pid] {
			continue
		}
		by[t.comm] += t.ticks - p.procs[pid].ticks // a new process: all its ticks
	}
	name, most := "", int64(0)
	for n, v := range by {
		if v > most {
			name, most = n, v
		}
	}
	return name, most
}

// probe holds the producer's and poller's figures the sampler reads.
type probe struct {
	emitted    atomic.Int64
	flushMaxUs atomic.Int64
	pollMaxUs  atomic.Int64
	polls      atomic.Int64
}

func maxInto(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// sampler takes a sample every second until stopped.
type sampler struct {
	conn     driver.Conn
	db       string
	attrPid  int
	selfPid  int
	chPids   []int
	kafkaPid []int
	burners  []int // the busy run's CPU burner, started before this tool
	probe    *probe
	rate     float64
	total    int64     // events to produce
	began    time.Time // produce start, for the due count
	mu       sync.Mutex
	samples  []sample
}

func newSampler(conn driver.Conn, db string, attrPid int, p *probe, rate float64, total int) *sampler {
	return &sampler{conn: conn, db: db, attrPid: attrPid, selfPid: os.Getpid(), probe: p, rate: rate, total: int64(total),
		chPids: findProcs("clickhouse-serv", ""), kafkaPid: findProcs("", "kafka.Kafka"), burners: findProcs("sha256sum", "")}
}

func (s *sampler) take(ctx context.Context) sample {
	x := sample{at: time.Now(), busy: machineBusy(), events: map[string]int64{}}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		x.load1, _, _ = strings.Cut(string(b), " ")
	}
	x.procs = allProcs()
	x.tool, _ = procCPU(s.selfPid)
	x.attr, _ = procCPU(s.attrPid)
	for _, pid := range s.chPids {
		// The process's own total counts the threads that ended too (a
		// query's pool); the threads still running give the split.
		t, m, _ := threadCPU(pid)
		n, _ := procCPU(pid)
		x.chTCP += t
		x.chMerge += m
		x.ch += n
	}
	for _, pid := range s.kafkaPid {
		n, _ := procCPU(pid)
		x.kafka += n
	}
	for _, pid := range s.burners {
		n, _ := procCPU(pid)
		x.burner += n
	}
	x.emitted = s.probe.emitted.Load()
	if !s.began.IsZero() {
		x.due = min(int64(x.at.Sub(s.began).Seconds()*s.rate)+1, s.total)
	}
	x.flushMaxUs = s.probe.flushMaxUs.Swap(0)
	x.pollMaxUs = s.probe.pollMaxUs.Swap(0)
	x.polls = s.probe.polls.Load()
	qctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
	defer cancel()
	if rows, err := s.conn.Query(qctx, "SELECT event, value FROM system.events WHERE event IN ('"+strings.Join(chCounters, "', '")+"')"); err == nil {
		for rows.Next() {
			var name string
			var v uint64
			if rows.Scan(&name, &v) == nil {
				x.events[name] = int64(v)
			}
		}
		if rows.Close() != nil || rows.Err() != nil {
			x.events = nil
		}
	} else {
		x.events = nil // not read (a server too slow to answer within the second): left blank
	}
	var merges, parts uint64
	if err := s.conn.QueryRow(qctx, "SELECT (SELECT count() FROM system.merges WHERE database = ?), (SELECT count() FROM system.parts WHERE database = ? AND active)", s.db, s.db).Scan(&merges, &parts); err == nil {
		x.merges, x.parts = int64(merges), int64(parts)
	}
	return x
}

// run samples every second until ctx ends.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		x := s.take(ctx)
		s.mu.Lock()
		s.samples = append(s.samples, x)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// write writes the timeline: one row per second between samples, with the
// conversions produced and first seen in it, and the latency quantiles of
// those produced in it (produced: id -> produce ms; lat: id -> latency ms).
func (s *sampler) write(path string, began time.Time, produced map[string]int64, lat map[string]float64, seen func(string) (time.Time, bool), clkTck float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 2 {
		return nil
	}
	type acc struct {
		produced, visible int
		lat               []float64
	}
	sec := func(t int64) int64 { return (t - began.UnixMilli()) / 1000 } // second of the run, from the produce start
	by := map[int64]*acc{}
	get := func(k int64) *acc {
		if by[k] == nil {
			by[k] = &acc{}
		}
		return by[k]
	}
	for id, ms := range produced {
		a := get(sec(ms))
		a.produced++
		if l, ok := lat[id]; ok {
			a.lat = append(a.lat, l)
		}
		if at, ok := seen(id); ok {
			get(sec(at.UnixMilli())).visible++
		}
	}
	var b strings.Builder
	b.WriteString("t_s\tload1\tmachine_cores\ttool\tattributor\tclickhouse\tch_inserts_queries\tch_merges\tkafka\tburner\tother" +
		"\tproduced_conv\tvisible_conv\tp50_ms\tp99_ms\tproducer_behind\tproducer_flush_max_ms\tpolls\tpoll_max_ms" +
		"\tch_inserts\tch_inserted_rows\tch_selects\tch_merges_started\tch_merged_rows\tch_query_cpu_ms\tch_query_cpu_wait_ms\tmerges_running\tdb_parts\ttop_other\n")
	for i := 1; i < len(s.samples); i++ {
		p, x := s.samples[i-1], s.samples[i]
		wall := x.at.Sub(p.at).Seconds()
		core := func(d int64) float64 { return float64(d) / clkTck / wall }
		ev := func(n string, div float64) string {
			if x.events == nil || p.events == nil {
				return ""
			}
			return fmt.Sprintf("%.0f", float64(x.events[n]-p.events[n])/div)
		}
		t := x.at.Sub(began).Seconds()
		k := int64(t) - 1 // the second this row closes, as counted by sec()
		a := get(k)
		slices.Sort(a.lat)
		q := func(v float64) string {
			if len(a.lat) == 0 {
				return ""
			}
			return fmt.Sprintf("%.0f", quantile(a.lat, v))
		}
		known := (x.tool - p.tool) + (x.attr - p.attr) + (x.ch - p.ch) + (x.kafka - p.kafka) + (x.burner - p.burner)
		on, ot := s.topOther(p, x)
		fmt.Fprintf(&b, "%.1f\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s\t%s\t%d\t%.1f\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s:%.2f\n",
			t, x.load1, core(x.busy-p.busy), core(x.tool-p.tool), core(x.attr-p.attr), core(x.ch-p.ch),
			core(x.chTCP-p.chTCP), core(x.chMerge-p.chMerge), core(x.kafka-p.kafka), core(x.burner-p.burner),
			core(x.busy-p.busy-known), a.produced, a.visible, q(0.5), q(0.99), max(0, x.due-x.emitted),
			float64(x.flushMaxUs)/1000, x.polls-p.polls, float64(x.pollMaxUs)/1000,
			ev("InsertQuery", 1), ev("InsertedRows", 1), ev("SelectQuery", 1), ev("Merge", 1), ev("MergedRows", 1),
			ev("OSCPUVirtualTimeMicroseconds", 1000), ev("OSCPUWaitMicroseconds", 1000), x.merges, x.parts, on, core(ot))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
