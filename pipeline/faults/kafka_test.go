package faults

import (
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// brokerDown is how long the Kafka broker stays stopped.
const brokerDown = 10 * time.Second

// The Kafka broker stopped and started again in mid-run: fetches, commits,
// the group's heartbeats and dead-letter writes fail meanwhile; the Runner
// rejoins by itself, resumes from the committed offsets and ends with
// exactly replay's view and each planted invalid message dead-lettered.
func TestKafkaBrokerRestartInMidRun(t *testing.T) {
	requireFaults(t)
	ev, bad := traffic(t, 73)
	env := pipelinetest.New(t, pipelinetest.Options{})
	env.ProduceEvents(part(ev, 0, 2))
	r := startRunner(t, env.Config())
	r.WaitSnapshot(time.Minute, "credited rows", func(s pipeline.Snapshot) bool { return s.CreditedRows > 0 })

	upAfter(t, "kafka")
	at := r.Snapshot()
	services(t, "down", "kafka")
	down := time.Now()
	for time.Since(down) < brokerDown {
		time.Sleep(time.Second)
		stillDown(t, env.Kafka, "kafka")
	}
	services(t, "up", "kafka")
	t.Logf("broker stopped with %d of %d messages consumed, back after %s", pipelinetest.Consumed(at), part(ev, 0, 2).Len(), time.Since(down).Round(100*time.Millisecond))
	if pipelinetest.Consumed(at) >= int64(part(ev, 0, 2).Len()) {
		t.Log("the first half was consumed before the broker stopped; the second half still arrives after the restart")
	}

	env.ProduceEvents(part(ev, 1, 2))
	env.WaitCommitted(2 * time.Minute)
	if r.Exited() {
		t.Fatalf("Run returned %v: the attributor did not survive the broker restart", r.Stop())
	}
	s := r.Snapshot()
	t.Logf("recovered: %d events consumed (%d produced), %d commits, %d credited rows", pipelinetest.Consumed(s), ev.Len(), s.Commits, s.CreditedRows)
	stop(t, r)
	check(t, env, ev, bad)
}
