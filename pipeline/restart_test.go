package pipeline_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// restartEvents is enough traffic that a run is still busy when its first
// credited rows are written.
func restartEvents(t *testing.T, seed int64) pipelinetest.Events {
	return pipelinetest.Generate(t, generate.Config{Seed: seed, Events: 200_000})
}

// assertMidRun fails t unless the committed offsets of the input topics are
// short of their ends: the stopped run left work for the next one.
func assertMidRun(t *testing.T, env *pipelinetest.Env) {
	t.Helper()
	var left int64
	for _, topic := range []string{env.Touchpoints, env.Conversions} {
		committed := env.CommittedOffsets(topic)
		for p, end := range env.EndOffsets(topic) {
			left += end - max(committed[p], 0)
		}
	}
	if left == 0 {
		t.Fatal("the first run had consumed everything before it was stopped: the test needs more events")
	}
	t.Logf("the stopped run left %d messages for the next", left)
}

// SIGTERM stops `attributor run` gracefully (exit 0, having said so), and a
// second run completes the work: the result is still replay's.
func TestBinaryRestartAfterSIGTERM(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := restartEvents(t, 21)
	env.ProduceEvents(ev)
	// Live-sized inserts while behind too: the first credited rows come
	// early in the run, not with a backlog batch that may hold all of it.
	args := append([]string{"run", "--until-caught-up", "--progress", "0", "--flush-rows", "2000", "--backlog-flush-rows", "2000"}, env.Args()...)

	p := pipelinetest.Start(t, args...)
	if n := env.WaitRows("attributed_conversions", 1, time.Minute, p.Exited); n == 0 {
		code, out := p.Wait(time.Second)
		t.Fatalf("attributor exited (code %d) before writing any credited row:\n%s", code, out)
	}
	p.Signal(syscall.SIGTERM)
	code, out := p.Wait(time.Minute)
	if code != 0 {
		t.Fatalf("after SIGTERM: exit code %d, want 0; output:\n%s", code, out)
	}
	if !strings.Contains(out, "stopping") {
		t.Errorf("after SIGTERM: output does not say it is stopping:\n%s", out)
	}
	assertMidRun(t, env)

	code, out = pipelinetest.RunBinary(t, pipelinetest.RunTimeout, args...)
	if code != 0 {
		t.Fatalf("second run: exit code %d, want 0; output:\n%s", code, out)
	}
	equalReplay(t, env, ev)
}

// Cancelling Run's context stops it gracefully (nil), and a new Runner
// completes the work: the result is still replay's.
func TestRunCancelledThenResumed(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := restartEvents(t, 22)
	env.ProduceEvents(ev)

	cfg := env.Config()
	cfg.UntilCaughtUp = true
	cfg.FlushRows = 2000
	// Live-sized inserts while behind too: the first credited rows come
	// early in the run, not with a backlog batch that may hold all of it
	// (a clean clone's CI consumed all 200,000 events before the first).
	cfg.BacklogFlushRows, cfg.BacklogFlushInterval = cfg.FlushRows, cfg.FlushInterval
	r := pipelinetest.StartRunner(t, cfg)
	if n := env.WaitRows("attributed_conversions", 1, time.Minute, r.Exited); n == 0 {
		t.Fatalf("Run returned %v before writing any credited row", r.Stop())
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run after cancel: %v, want nil (a graceful stop)", err)
	}
	assertMidRun(t, env)

	pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev)
}
