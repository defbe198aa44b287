package faults

import (
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A group of two running instances, while events keep arriving: a third
// joins, then one of the first two leaves. Each rebalance hands partitions
// over with conversions waiting for touchpoints and rows in flight; no
// credit is lost or doubled: the view is exactly replay's.
func TestThirdJoinsOneLeavesRunningGroup(t *testing.T) {
	requireFaults(t)
	const parts = 8
	ev, bad := traffic(t, 74)
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 6})
	env.ProduceEvents(part(ev, 0, parts))
	a := startRunner(t, env.Config())
	b := startRunner(t, env.Config())
	a.WaitSnapshot(time.Minute, "credited rows", func(s pipeline.Snapshot) bool { return s.CreditedRows > 0 })

	var c *pipelinetest.Running
	for i := 1; i < parts; i++ {
		env.ProduceEvents(part(ev, i, parts))
		switch i {
		case 2:
			c = startRunner(t, env.Config())
			c.WaitSnapshot(time.Minute, "the third instance to consume", func(s pipeline.Snapshot) bool { return pipelinetest.Consumed(s) > 0 })
			t.Logf("third instance joined after part %d of %d", i+1, parts)
		case 5:
			stop(t, a)
			t.Logf("first instance left after part %d of %d", i+1, parts)
		}
		time.Sleep(time.Second)
	}
	env.WaitCommitted(2 * time.Minute)
	for name, r := range map[string]*pipelinetest.Running{"b": b, "c": c} {
		if r.Exited() {
			t.Fatalf("instance %s: Run returned %v", name, r.Stop())
		}
	}
	stop(t, b)
	stop(t, c)
	for name, r := range map[string]*pipelinetest.Running{"a (left)": a, "b": b, "c (joined)": c} {
		s := r.Snapshot()
		t.Logf("instance %s: %d events, %d attributed, %d re-attributed, %d credited rows", name, pipelinetest.Consumed(s), s.Attributed, s.Reattributed, s.CreditedRows)
		if s.CreditedRows == 0 {
			t.Errorf("instance %s credited nothing: the group did not share the work", name)
		}
	}
	check(t, env, ev, bad)
}
