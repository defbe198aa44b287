package faults

import (
	"runtime"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// outage is how long ClickHouse stays down.
const outage = 30 * time.Second

func heapMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// ClickHouse stopped for 30 seconds in mid-run, with events still arriving:
// the attributor retries with backoff, commits no offset whose rows are not
// written, stops consuming once its bounded queues are full (memory does
// not grow with the backlog), and recovers by itself when ClickHouse is
// back: the same Runner, never restarted, ends with exactly replay's view.
func TestClickHouseDownInMidRun(t *testing.T) {
	requireFaults(t)
	ev, bad := traffic(t, 72)
	env := pipelinetest.New(t, pipelinetest.Options{})
	env.ProduceEvents(part(ev, 0, 3))
	r := startRunner(t, env.Config())
	// Strike once offsets are being committed, so that "no commit during
	// the outage" means something.
	for deadline := time.Now().Add(time.Minute); committed(env) < 10_000; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no 10000 offsets committed within a minute; counters %+v", r.Snapshot())
		}
	}

	upAfter(t, "clickhouse")
	services(t, "down", "clickhouse")
	down := time.Now()
	before := r.Snapshot()
	env.ProduceEvents(part(ev, 1, 3)) // a backlog that cannot be written

	// Watch the outage. In-flight inserts may have completed just before
	// the stop: the baseline is taken once the sink is seen failing.
	stillDown(t, env.ClickHouse, "clickhouse")
	r.WaitSnapshot(20*time.Second, "failing inserts", func(s pipeline.Snapshot) bool { return s.InsertErrors > before.InsertErrors })
	time.Sleep(3 * time.Second)
	base, baseCommitted, baseHeap := r.Snapshot(), committed(env), heapMB()
	var last pipeline.Snapshot
	lastHeap, peakHeap := baseHeap, baseHeap
	for time.Since(down) < outage {
		time.Sleep(time.Second)
		stillDown(t, env.ClickHouse, "clickhouse")
		last = r.Snapshot()
		lastHeap = heapMB()
		peakHeap = max(peakHeap, lastHeap)
	}
	lastCommitted := committed(env)
	t.Logf("during the outage: consumed %d -> %d, pending %d -> %d, users %d -> %d, heap %.0f -> %.0f MB (peak %.0f), committed %d -> %d, %d failed inserts",
		pipelinetest.Consumed(base), pipelinetest.Consumed(last), base.Pending, last.Pending, base.UsersInMemory, last.UsersInMemory,
		baseHeap, lastHeap, peakHeap, baseCommitted, lastCommitted, last.InsertErrors-before.InsertErrors)
	if lastCommitted != baseCommitted {
		t.Errorf("offsets committed while ClickHouse was down: %d -> %d (nothing could be written)", baseCommitted, lastCommitted)
	}
	if last.CreditedRows != base.CreditedRows || last.RawRows != base.RawRows {
		t.Errorf("rows acknowledged while ClickHouse was down: credited %d -> %d, raw %d -> %d", base.CreditedRows, last.CreditedRows, base.RawRows, last.RawRows)
	}
	// Bounded: once the queues are full the fetchers wait, so neither the
	// events taken in nor the conversions held grow with the backlog.
	if grew := pipelinetest.Consumed(last) - pipelinetest.Consumed(base); grew != 0 {
		t.Errorf("still consuming %ds into the outage: %d more events taken in (the backlog is %d)", int(outage.Seconds())-5, grew, part(ev, 1, 3).Len())
	}
	if last.Pending > base.Pending {
		t.Errorf("pending conversions grew during the outage: %d -> %d", base.Pending, last.Pending)
	}
	if peakHeap > baseHeap+64 {
		t.Errorf("heap grew by %.0f MB during the outage (%.0f -> %.0f MB)", peakHeap-baseHeap, baseHeap, peakHeap)
	}
	// With backoff (100ms doubling to 5s), two writers fail a few dozen
	// times in 30s, not hundreds.
	if n := last.InsertErrors - before.InsertErrors; n > 60 {
		t.Errorf("%d failed inserts in %s: retrying without backoff", n, outage)
	}

	services(t, "up", "clickhouse")
	t.Logf("clickhouse back after %s", time.Since(down).Round(100*time.Millisecond))
	waitClickHouse(t, env)
	env.ProduceEvents(part(ev, 2, 3))
	env.WaitCommitted(2 * time.Minute)
	if r.Exited() {
		t.Fatalf("Run returned %v: the attributor did not survive the outage", r.Stop())
	}
	s := r.Snapshot()
	t.Logf("recovered: %d events, %d credited rows, %d failed inserts in all", pipelinetest.Consumed(s), s.CreditedRows, s.InsertErrors)
	stop(t, r)
	check(t, env, ev, bad)
}
