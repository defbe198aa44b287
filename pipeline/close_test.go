package pipeline_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// Close releases what NewRunner opened: a process that creates Runners
// (a supervisor restarting one, a test suite) must not accumulate
// connections and goroutines.
func TestRunnerCloseReleasesConnections(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	cycle := func() {
		r, err := pipeline.NewRunner(context.Background(), env.Config())
		if err != nil {
			t.Fatalf("NewRunner: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	cycle() // starts what lives for the process (default transports, pools)
	before := settledGoroutines(before0)
	const n = 10
	for range n {
		cycle()
	}
	after := settledGoroutines(before)
	if after >= before+n {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		t.Errorf("%d Runners created and closed left %d goroutines more than before (%d -> %d); of which kafka-go connPool.discover: %d, conn.run: %d",
			n, after-before, before, after, strings.Count(stacks, "kafka-go.(*connPool).discover"), strings.Count(stacks, "kafka-go.(*conn).run"))
	}
}

const before0 = -1

// settledGoroutines waits up to 3s for the goroutine count to come down to
// target (or, when target is before0, for it to stop changing) and returns it.
func settledGoroutines(target int) int {
	last := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if (target != before0 && n <= target) || (target == before0 && n == last) {
			return n
		}
		last = n
	}
	return last
}
