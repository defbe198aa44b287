package faults

import (
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// uncommitted counts the messages of both input topics beyond the group's
// committed offsets.
func uncommitted(env *pipelinetest.Env) int64 {
	var n int64
	for _, topic := range []string{env.Touchpoints, env.Conversions} {
		c := env.CommittedOffsets(topic)
		for p, end := range env.EndOffsets(topic) {
			n += end - max(c[p], 0)
		}
	}
	return n
}

// `attributor run`, killed with SIGKILL at random moments while it
// consumes (no drain, no commit, rows half written) and started again each
// time, loses and doubles nothing: a final --until-caught-up run completes,
// and the view is exactly replay's. Events keep arriving between the kills,
// each part's conversions before its touchpoints, so that kills also strike
// conversions waiting for the watermark and re-attribution.
func TestSIGKILLAtRandomMoments(t *testing.T) {
	requireFaults(t)
	const kills = 3
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("kill moments: seed %d", seed)

	ev, bad := traffic(t, 71)
	env := pipelinetest.New(t, pipelinetest.Options{})
	env.ProduceEvents(part(ev, 0, kills+1))
	args := append([]string{"run", "--progress", "0", "--flush-rows", "20000", "--log-level", "info"}, env.Args()...)

	midRun := 0
	for i := range kills {
		before := env.Count("attributed_conversions")
		p := pipelinetest.Start(t, args...)
		env.ProduceEvents(part(ev, i+1, kills+1))
		// After a kill the group waits for the dead member's session to
		// time out (10s) before the new one gets partitions.
		env.WaitRows("attributed_conversions", before+1, 90*time.Second, p.Exited)
		if p.Exited() {
			code, out := p.Wait(time.Second)
			t.Fatalf("incarnation %d exited (code %d) before it was killed:\n%s", i+1, code, out)
		}
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(3*time.Second))))
		if p.Exited() {
			code, out := p.Wait(time.Second)
			t.Fatalf("incarnation %d exited (code %d) before it was killed:\n%s", i+1, code, out)
		}
		at := env.Count("attributed_conversions")
		p.Signal(syscall.SIGKILL)
		p.Wait(10 * time.Second)
		left := uncommitted(env)
		if left > 0 {
			midRun++
		}
		t.Logf("kill %d: %d credited rows written before it started, %d when killed; %d messages uncommitted", i+1, before, at, left)
	}
	if midRun < 3 {
		t.Errorf("only %d of %d kills struck with work left: the test needs more events", midRun, kills)
	}

	final := append([]string{"run", "--until-caught-up", "--progress", "0", "--log-level", "info"}, env.Args()...)
	start := time.Now()
	code, out := pipelinetest.RunBinary(t, 3*time.Minute, final...)
	if code != 0 {
		t.Fatalf("final --until-caught-up run: exit code %d; output:\n%s", code, out)
	}
	t.Logf("final run: %s: %s", time.Since(start).Round(time.Second), summary(out))
	env.WaitCommitted(30 * time.Second)
	check(t, env, ev, bad)
}

// summary returns the "done" line of an attributor run's output.
func summary(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "done in") {
			return l
		}
	}
	return "(no summary line)"
}
