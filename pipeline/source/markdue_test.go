package source

import (
	"testing"
	"time"
)

// TestMarksFallOnTheSameTicks: a fetcher's timed mark is due once the wall
// clock enters a new markInterval tick, not markInterval after its own
// last mark, so that the fetchers of a member mark together and kafka-go
// puts their marks to one home into one write batch.
func TestMarksFallOnTheSameTicks(t *testing.T) {
	tick := time.Unix(1_800_000_000, 0) // a multiple of markInterval
	at := func(d time.Duration) time.Time { return tick.Add(d) }
	for _, c := range []struct {
		last, now time.Duration
		due       bool
	}{
		{-time.Millisecond, time.Millisecond, true}, // 2 ms apart, across a tick
		{-48 * time.Millisecond, 0, true},
		{0, markInterval - time.Millisecond, false}, // 49 ms apart, within one tick
		{time.Millisecond, 2 * time.Millisecond, false},
		{time.Millisecond, markInterval + time.Millisecond, true},
		{0, 3 * markInterval, true},
	} {
		if got := markDue(at(c.last), at(c.now)); got != c.due {
			t.Errorf("last mark at tick%+v, now tick%+v: due %v, want %v", c.last, c.now, got, c.due)
		}
	}
	// Two fetchers whose own marks were 30 ms apart are due at the same
	// instant: just after the next tick.
	a, b := at(-40*time.Millisecond), at(-10*time.Millisecond)
	for _, now := range []time.Duration{-time.Millisecond, time.Millisecond} {
		if markDue(a, at(now)) != markDue(b, at(now)) {
			t.Errorf("at tick%+v one fetcher is due and the other not", now)
		}
	}
}
