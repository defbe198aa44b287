package pipeline_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// `attributor run` writes a batch's credited rows (and conversions) every
// flush interval but its other raw rows (touchpoints) and its offsets only
// every --raw-flush-interval. Killed with SIGKILL after some offsets were
// committed and while credited rows of later events are in ClickHouse
// without their raw rows, the next run reloads the history before the
// committed offsets, consumes the rest again, writes those credited rows
// again (identical) and the view is exactly replay's: nothing lost,
// nothing counted twice. (No service is stopped: this runs in the normal
// suite.)
func TestSIGKILLWithCreditsWrittenAheadOfTheirRawRows(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 131, Events: 40_000})
	half := func(msgs []pipelinetest.Msg, first bool) []pipelinetest.Msg {
		if first {
			return msgs[:len(msgs)/2]
		}
		return msgs[len(msgs)/2:]
	}
	a := pipelinetest.Events{Touchpoints: half(ev.Touchpoints, true), Conversions: half(ev.Conversions, true)}
	b := pipelinetest.Events{Touchpoints: half(ev.Touchpoints, false), Conversions: half(ev.Conversions, false)}

	// Never behind (the lag stays under --flush-rows): live batches, whose
	// raw rows wait 5 s.
	args := append([]string{"run", "--progress", "0", "--flush-rows", "1000000", "--raw-flush-interval", "5s"}, env.Args()...)
	env.ProduceEvents(a)
	p := pipelinetest.Start(t, args...)
	committed := func() (n int64) {
		for _, topic := range []string{env.Touchpoints, env.Conversions} {
			for _, off := range env.CommittedOffsets(topic) {
				n += max(off, 0)
			}
		}
		return n
	}
	waitUntil(t, p, "offsets committed for the first half", func() bool { return committed() > 0 })
	before := committed()
	env.ProduceEvents(b)
	orphans := func() uint64 { // touchpoints credited but not stored
		var n uint64
		if err := env.CH.QueryRow(context.Background(), "SELECT count() FROM (SELECT arrayJoin(touchpoint_ids) AS t FROM "+env.Database+".attributed_conversions)"+
			" WHERE t NOT IN (SELECT event_id FROM "+env.Database+".touchpoints)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitUntil(t, p, "credited rows ahead of their raw rows", func() bool { return orphans() > 0 })
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	n, after := orphans(), committed()
	if n == 0 {
		t.Fatal("no credited touchpoint was ahead of its raw row at the kill")
	}
	if after >= int64(ev.Len()) {
		t.Fatalf("every offset was committed (%d) with credited rows not backed by raw rows", after)
	}
	t.Logf("killed with %d credited touchpoints ahead of their raw rows; %d offsets committed (%d when the second half was produced) of %d", n, after, before, ev.Len())

	final := append([]string{"run", "--until-caught-up", "--progress", "0"}, env.Args()...)
	if code, out := pipelinetest.RunBinary(t, 3*time.Minute, final...); code != 0 {
		t.Fatalf("run after the kill: exit code %d; output:\n%s", code, out)
	}
	equalReplay(t, env, ev)
	if n := orphans(); n != 0 {
		t.Errorf("%d credited touchpoints not stored in touchpoints after the catch-up", n)
	}
}

// waitUntil polls cond for up to a minute; it fails t when p exits or the
// minute passes first.
func waitUntil(t *testing.T, p *pipelinetest.Proc, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if p.Exited() {
			code, out := p.Wait(time.Second)
			t.Fatalf("attributor exited (code %d) before %s:\n%s", code, what, out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The same with stitching, the raw rows held 5 s: moves re-credit
// conversions under new versions while their raw rows wait; after the
// kill, the next run must find the versions already credited (through the
// conversions rows, written with the credits) and credit above them, or a
// stale version written before the kill would stay in the view.
func TestStitchedSIGKILLWithRawRowsHeld(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := stitchedTraffic(t, 1407, 200_000)
	stitchedReference(t, ev)
	producePartitionFree(env, ev, 1407)
	killThenCatchUp(t, env, "--raw-flush-interval", "5s")
	equalReplay(t, env, ev)
	checkCommitted(t, env)
}
