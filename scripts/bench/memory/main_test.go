package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// The figures come from the attributor's stderr: gctrace lines and its
// memory limit log line, as Go 1.26 and log/slog write them.
func TestTraceLine(t *testing.T) {
	var p proc
	for _, line := range []string{
		`time=2026-11-29T00:20:01.000Z level=INFO msg="memory limit" limit=512MiB bytes=536870912 from=memory-limit`,
		`gc 56 @73.815s 5%: 0.68+272+0.073 ms clock, 1.3+5.8/140/0+0.14 ms cpu, 673->735->416 MB, 758 MB goal, 0 MB stacks, 0 MB globals, 2 P`,
		`gc 57 @194.094s 2%: 0.14+45+0.008 ms clock, 0.29+0/26/35+0.016 ms cpu, 671->671->315 MB, 832 MB goal, 0 MB stacks, 0 MB globals, 2 P`,
		`attributor:  140.2s  events 5000000 (0/s)  lag 0`,
	} {
		p.traceLine(line)
	}
	g := p.gc()
	if g.cycles != 2 || g.live != 315 || g.maxLive != 416 || g.goal != 832 || g.lastForced {
		t.Errorf("gc trace = %+v, want 2 cycles, live 315, max 416, goal 832, the last not forced", g)
	}
	if want := 1.3 + 5.8 + 140 + 0.14 + 0.29 + 0 + 26 + 0.016; g.cpuMs < want-1e-9 || g.cpuMs > want+1e-9 {
		t.Errorf("gc cpu = %v ms, want %v (idle marking left out)", g.cpuMs, want)
	}
	p.traceLine(`gc 58 @199.956s 2%: 0.25+27+0.006 ms clock, 0.50+0/16/38+0.013 ms cpu, 315->315->307 MB, 631 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)`)
	if g := p.gc(); g.cycles != 3 || g.live != 307 || !g.lastForced {
		t.Errorf("after a forced cycle: %+v, want 3 cycles, live 307, the last forced", g)
	}
	if p.limit() != 512<<20 {
		t.Errorf("memory limit = %d, want %d", p.limit(), 512<<20)
	}
}

// cpuSeconds of this process agrees with getrusage read around it, to the
// 1/100 s of /proc/PID/stat.
func TestCPUSeconds(t *testing.T) {
	rusage := func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	// Some CPU time to measure: 0.1 s, ten ticks of /proc/PID/stat (a fixed
	// count of iterations took 18 ms on a fast machine, which /proc may
	// count as no tick at all).
	busy := 0
	for start := rusage(); rusage()-start < 0.1; {
		for i := range 1_000_000 {
			busy += i & 3
		}
	}
	lo := rusage()
	got, err := cpuSeconds(os.Getpid())
	hi := rusage()
	if err != nil {
		t.Fatal(err)
	}
	if got < lo-0.02 || got > hi+0.02 || got == 0 {
		t.Errorf("cpuSeconds = %v, getrusage %v..%v (spun %d)", got, lo, hi, busy)
	}
}
