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

	// Live, the sink writes every 20 rows or 50 ms: some 500 inserts
	// here. Behind, the few units before the first lag reading, one large
	// batch, and what the shards hold back until the end.
	if snap.InsertBatches == 0 || snap.InsertBatches > 8 {
		t.Errorf("%d rows written in %d inserts; want at most 8, one large batch while behind",
			snap.RawRows+snap.CreditedRows, snap.InsertBatches)
	}
}
