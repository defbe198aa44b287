package pipelinetest

import (
	"context"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
)

// RunTimeout bounds a Runner that should catch up: far more than the tests
// need, short enough that a hang fails instead of stalling the suite.
const RunTimeout = 30 * time.Second

// RunUntilCaughtUp creates a Runner with cfg and UntilCaughtUp, runs it and
// fails t unless Run returns nil within RunTimeout. It returns the
// Runner's counters.
func RunUntilCaughtUp(t testing.TB, cfg pipeline.Config) pipeline.Snapshot {
	t.Helper()
	cfg.UntilCaughtUp = true
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	r, err := pipeline.NewRunner(ctx, cfg)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	defer r.Close()
	start := time.Now()
	err = r.Run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Run did not catch up within %s (returned %v); counters: %+v", RunTimeout, err, r.Snapshot())
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := r.Snapshot()
	t.Logf("caught up in %s: %d touchpoints, %d conversions, %d invalid, %d duplicates, %d attributed (%d re-attributed), %d credited rows, %d dead letters",
		time.Since(start).Round(time.Millisecond), s.Touchpoints, s.Conversions, s.Invalid, s.Duplicates, s.Attributed, s.Reattributed, s.CreditedRows, s.DeadLetters)
	return s
}
