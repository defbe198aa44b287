package pipelinetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
)

// RunTimeout bounds a Runner that should catch up: far more than the tests
// need, short enough that a hang fails instead of stalling the suite. It
// was 30 s until TestStreamingBehindWritesLargeBatches, whose first run
// writes 20 rows per insert (about 370 inserts), took 33 s in a
// clean-clone CI run while other packages' tests (and a build beside
// them) loaded the two cores: a hang guard, not a measure of speed.
const RunTimeout = 2 * time.Minute

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
	if s.Identities+s.LinksEvent > 0 {
		t.Logf("stitching: %d identity events, %d links (%d from identities, %d from events), %d conflicts, %d too late, %d moves, %d re-attributed by a link",
			s.Identities, s.LinksIdentity+s.LinksEvent, s.LinksIdentity, s.LinksEvent, s.LinkConflicts, s.LinksTooLate, s.Moves, s.ReattributedLink)
	}
	return s
}

// Running is a Runner working in the background, for tests that act on it
// while it runs (produce more, stop a service, stop it midway).
type Running struct {
	*pipeline.Runner
	t      testing.TB
	cancel context.CancelFunc
	exited chan struct{} // closed when Run has returned
	result error         // what Run returned, once exited is closed
	stop   sync.Once
}

// StartRunner creates a Runner with cfg and runs it in the background; it
// is stopped at the end of t.
func StartRunner(t testing.TB, cfg pipeline.Config) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := pipeline.NewRunner(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("NewRunner: %v", err)
	}
	rr := &Running{Runner: r, t: t, cancel: cancel, exited: make(chan struct{})}
	go func() {
		rr.result = r.Run(ctx)
		close(rr.exited)
	}()
	t.Cleanup(func() { rr.Stop() })
	return rr
}

// Exited reports whether Run has returned.
func (r *Running) Exited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// Stop cancels Run, fails t unless it returns within a minute, closes the
// Runner and returns what Run returned. Later calls return the same.
func (r *Running) Stop() error {
	r.stop.Do(func() {
		r.cancel()
		select {
		case <-r.exited:
		case <-time.After(time.Minute):
			r.t.Error("Run did not return within a minute of its context's end")
		}
		r.Close()
	})
	if !r.Exited() {
		return nil
	}
	return r.result
}

// WaitSnapshot polls the Runner's counters until ok, and fails t when
// timeout passes first or Run returns meanwhile.
func (r *Running) WaitSnapshot(timeout time.Duration, what string, ok func(pipeline.Snapshot) bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok(r.Snapshot()) {
		if time.Now().After(deadline) {
			r.t.Fatalf("waiting for %s: counters after %s: %+v", what, timeout, r.Snapshot())
		}
		if r.Exited() {
			r.t.Fatalf("waiting for %s: Run returned %v", what, r.result)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Consumed counts the messages a Runner has taken from its topics.
func Consumed(s pipeline.Snapshot) int64 {
	return s.Touchpoints + s.Conversions + s.Spend + s.Invalid + s.Future
}
