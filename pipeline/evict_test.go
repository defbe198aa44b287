package pipeline_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// With far more users than MaxUsers, users are evicted once their rows are
// durable and reloaded from ClickHouse when their events come back: late
// touchpoints of evicted users still re-attribute, duplicates of evicted
// users' events are still recognised, and the result is still replay's.
// Memory follows MaxUsers, not the number of users.
func TestEvictedUsersReloadFromClickHouse(t *testing.T) {
	const maxUsers = 500
	base := pipelinetest.Generate(t, generate.Config{Seed: 61, Users: 6000})
	rng := rand.New(rand.NewPCG(61, 0))
	shift := lateShift.Milliseconds()
	order := sortedBy(base.Stamp(), func(_ int, m pipelinetest.Stamped) int64 { return m.TimeMs + rng.Int64N(shift) })

	env := pipelinetest.New(t, pipelinetest.Options{})
	cfg := lateConfig(env)
	cfg.MaxUsers = maxUsers
	r := pipelinetest.StartRunner(t, cfg)

	// Produce in batches, long enough apart for the shards' sweeps (every
	// 5s) to evict between them.
	var peak, atEnd int64
	const batches = 4
	for i := range batches {
		lo, hi := i*len(order)/batches, (i+1)*len(order)/batches
		env.ProduceEvents(pipelinetest.Unstamp(order[lo:hi]))
		want := int64(hi)
		r.WaitSnapshot(time.Minute, "the batch consumed", func(s pipeline.Snapshot) bool { return pipelinetest.Consumed(s) >= want })
		for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			peak = max(peak, r.Snapshot().UsersInMemory)
		}
	}
	env.WaitCommitted(time.Minute)
	for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		atEnd = r.Snapshot().UsersInMemory
		peak = max(peak, atEnd)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := r.Snapshot()
	users := len(distinctUsers(base))
	t.Logf("%d users, max_users %d: at most %d in memory, %d after the last sweep; %d history loads, %d re-attributed, %d duplicates",
		users, maxUsers, peak, atEnd, s.HistoryLoads, s.Reattributed, s.Duplicates)

	equalReplay(t, env, base.Reference())
	if s.HistoryLoads == 0 {
		t.Error("no user was reloaded from ClickHouse: nothing was evicted, or evicted users never came back")
	}
	if s.Reattributed == 0 {
		t.Error("no conversion was re-attributed: the order did not make touchpoints arrive late")
	}
	// A copy of an evicted user's event that needs no history load (it
	// cannot belong to an attributed conversion) is written again rather
	// than recognised: harmless in the deduplicating tables, so only
	// counting more duplicates than there are is wrong.
	if want := int64(base.Repeats()); s.Duplicates > want {
		t.Errorf("%d duplicates counted, but only %d messages repeat an earlier one", s.Duplicates, want)
	} else if s.Duplicates < want {
		t.Logf("%d of %d repeated messages were not recognised as duplicates (their users were evicted)", want-s.Duplicates, want)
	}
	if atEnd > maxUsers {
		t.Errorf("%d users in memory after the last sweep, want at most max_users %d", atEnd, maxUsers)
	}
}

// distinctUsers returns the attribution keys of ev's messages.
func distinctUsers(ev pipelinetest.Events) map[string]bool {
	out := map[string]bool{}
	for _, m := range ev.Touchpoints {
		out[string(m.Key)] = true
	}
	for _, m := range ev.Conversions {
		out[string(m.Key)] = true
	}
	return out
}
