package pipeline_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// exitBound is how long an instance may take to exit after SIGTERM: a
// hang guard for what an operator relies on (a rolling restart, a
// Kubernetes grace period), far above the second or two it takes.
const exitBound = 8 * time.Second

// Two instances of one group, streaming: SIGTERM to both, or to one and
// then the other, and each exits 0 within exitBound.
func TestSIGTERMWithTwoInstancesExitsPromptly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		together bool
	}{
		// Three rounds: the hang this guards against (kafka-go joining a
		// new generation while the group closes) depends on timing.
		{"both at once", true}, {"both at once again", true}, {"both at once a third time", true},
		{"one then the other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := pipelinetest.New(t, pipelinetest.Options{Partitions: 4})
			env.ProduceEvents(pipelinetest.Generate(t, generate.Config{Seed: 71, Users: 500}))
			args := append([]string{"run", "--progress", "0", "--log-level", "info"}, env.Args()...)
			// B starts once A runs: two instances migrating one database
			// at the same moment is another matter (issue 10).
			a := pipelinetest.Start(t, args...)
			for deadline := time.Now().Add(time.Minute); !strings.Contains(a.Output(), "generation started"); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) || a.Exited() {
					t.Fatalf("instance A did not start:\n%s", a.Output())
				}
			}
			b := pipelinetest.Start(t, args...)
			// Wait until both hold partitions in the same generation.
			deadline := time.Now().Add(time.Minute)
			for !(strings.Contains(a.Output(), "generation started") && strings.Contains(b.Output(), "generation started") && bothIn(a.Output(), b.Output())) {
				if time.Now().After(deadline) || a.Exited() || b.Exited() {
					t.Fatalf("the two instances did not share a generation within a minute:\nA:\n%s\nB:\n%s", a.Output(), b.Output())
				}
				time.Sleep(100 * time.Millisecond)
			}
			stop := func(p *pipelinetest.Proc, name string) {
				start := time.Now()
				for !p.Exited() && time.Since(start) < exitBound {
					time.Sleep(20 * time.Millisecond)
				}
				if !p.Exited() {
					p.Signal(syscall.SIGQUIT) // the Go runtime prints every goroutine: where it hangs
					time.Sleep(time.Second)
				}
				code, out := p.Wait(time.Second)
				t.Logf("instance %s exited %d in %s", name, code, time.Since(start).Round(10*time.Millisecond))
				if code != 0 {
					t.Errorf("instance %s: exit %d after SIGTERM, want 0:\n%s", name, code, out)
				}
			}
			if tc.together {
				a.Signal(syscall.SIGTERM)
				b.Signal(syscall.SIGTERM)
				stop(a, "A")
				stop(b, "B")
				return
			}
			a.Signal(syscall.SIGTERM)
			stop(a, "A")
			time.Sleep(500 * time.Millisecond) // B is rebalancing to take A's partitions
			b.Signal(syscall.SIGTERM)
			stop(b, "B")
		})
	}
}

// bothIn reports whether the latest generation each instance started is
// the same one (their assignments cover the topics together).
func bothIn(a, b string) bool {
	return lastGeneration(a) != "" && lastGeneration(a) == lastGeneration(b)
}

func lastGeneration(out string) string {
	gen := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "generation started") {
			if i := strings.Index(l, "generation="); i >= 0 {
				gen = strings.Fields(l[i:])[0]
			}
		}
	}
	return gen
}
