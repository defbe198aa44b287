package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// Two instances in one consumer group, started together with
// UntilCaughtUp, share the partitions; together they write exactly replay's
// result, and both return nil.
func TestTwoInstancesInOneGroup(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 31, Events: 30_000})
	env.ProduceEvents(ev)

	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	runners := runCaughtUp(ctx, t, env, 2)
	for i, r := range runners {
		s := r.Snapshot()
		t.Logf("instance %d: %d touchpoints, %d conversions, %d attributed, %d credited rows", i, s.Touchpoints, s.Conversions, s.Attributed, s.CreditedRows)
		if s.Touchpoints == 0 {
			// Not an error: the other may catch up alone before this one
			// joins. TestInstanceJoinsAndLeavesRunningGroup forces sharing.
			t.Logf("instance %d consumed nothing: the other caught up before it joined", i)
		}
	}
	equalReplay(t, env, ev)
}

// A second instance joining a running one triggers a rebalance in mid-run,
// while conversions wait for touchpoints not yet produced. The joining
// instance, caught up, attributes what its partitions hold and leaves; the
// running one takes its partitions back and re-attributes those
// conversions when their touchpoints arrive. The result is replay's.
func TestInstanceJoinsAndLeavesRunningGroup(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 32, Events: 30_000})
	half := len(ev.Touchpoints) / 2
	env.Produce(env.Conversions, ev.Conversions)
	env.Produce(env.Touchpoints, ev.Touchpoints[:half])

	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	live := newRunner(ctx, t, env, false)
	liveCtx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	liveDone := make(chan error, 1)
	go func() { liveDone <- live.Run(liveCtx) }()
	env.WaitRows("attributed_conversions", 1, pipelinetest.RunTimeout, func() bool { return len(liveDone) > 0 })

	joiner := newRunner(ctx, t, env, true)
	if err := joiner.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("joining instance: Run returned %v (context: %v)", err, ctx.Err())
	}
	env.Produce(env.Touchpoints, ev.Touchpoints[half:])
	env.WaitCommitted(time.Minute)
	stopLive()
	if err := <-liveDone; err != nil {
		t.Fatalf("running instance: Run returned %v", err)
	}
	for name, r := range map[string]*pipeline.Runner{"running": live, "joining": joiner} {
		s := r.Snapshot()
		t.Logf("%s instance: %d touchpoints, %d conversions, %d attributed, %d re-attributed, %d credited rows",
			name, s.Touchpoints, s.Conversions, s.Attributed, s.Reattributed, s.CreditedRows)
	}
	if s := joiner.Snapshot(); s.Conversions == 0 {
		t.Error("the joining instance consumed no conversion: no rebalance happened in mid-run")
	}
	equalReplay(t, env, ev)
}

// newRunner returns a Runner of env's configuration, closed at the end of t.
// runCaughtUp runs n --until-caught-up instances in one group at once
// and waits for all of them: each must return nil within ctx.
func runCaughtUp(ctx context.Context, t *testing.T, env *pipelinetest.Env, n int) []*pipeline.Runner {
	t.Helper()
	runners := make([]*pipeline.Runner, n)
	for i := range runners {
		runners[i] = newRunner(ctx, t, env, true)
	}
	errs := make(chan error, n)
	for _, r := range runners {
		go func() { errs <- r.Run(ctx) }()
	}
	for range runners {
		if err := <-errs; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("the instances did not catch up within %s", pipelinetest.RunTimeout)
	}
	return runners
}

func newRunner(ctx context.Context, t *testing.T, env *pipelinetest.Env, untilCaughtUp bool) *pipeline.Runner {
	t.Helper()
	cfg := env.Config()
	cfg.UntilCaughtUp = untilCaughtUp
	r, err := pipeline.NewRunner(ctx, cfg)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
