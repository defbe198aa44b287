package pipeline_test

import (
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// Catching up, the sink writes large batches (BacklogFlushRows), not one
// insert per FlushRows rows, and what it writes is exactly what replay
// computes: the larger batches keep their order of rows, marks and
// offsets.
func TestStreamingBehindWritesLargeBatches(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 11, Users: 4000})
	env.ProduceEvents(ev)

	cfg := env.Config()
	cfg.FlushRows, cfg.FlushInterval = 20, 50*time.Millisecond
	cfg.QueueSize = 16 // the backlog stays in Kafka, where the lag counts it, not in the shards' queues
	cfg.BacklogFlushRows, cfg.BacklogFlushInterval = 1_000_000, 2*time.Second
	snap := pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, env, ev)

	// Live, the sink writes every 20 rows or 50 ms: some 530 inserts
	// here (529 measured before the backlog mode). Behind, the few units
	// before the first lag reading, large batches, and what the shards
	// hold back until the end: 3 to 20 inserts measured. The lag counts
	// only what is not fetched yet, and kafka-go fetches this small topic
	// in a few requests, so the sink may leave the backlog mode and come
	// back while the fetched messages are still being processed (README,
	// "Inserts while catching up"): the bound leaves room for that, and
	// stays a tenth of the live count.
	if snap.InsertBatches == 0 || snap.InsertBatches > 50 {
		t.Errorf("%d rows written in %d inserts; want at most 50 (live sizes take about 530), large batches while behind",
			snap.RawRows+snap.CreditedRows, snap.InsertBatches)
	}
	t.Logf("%d rows written in %d inserts", snap.RawRows+snap.CreditedRows, snap.InsertBatches)
}
