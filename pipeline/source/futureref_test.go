package source

import (
	"testing"
	"time"
)

// The reference time of the future check: the broker timestamp when it is
// set and not later than the wall clock (a backlog is judged by when it was
// produced), else the wall clock (no timestamp, one before 2000, or a
// producer-set one in the future, which must not widen the allowance).
func TestFutureRef(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		broker time.Time
		want   time.Time
		src    string
	}{
		{"none", time.Time{}, now, "wall clock"},
		{"epoch", time.UnixMilli(0), now, "wall clock"},
		{"before 2000", time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), now, "wall clock"},
		{"an hour ago", now.Add(-time.Hour), now.Add(-time.Hour), "broker timestamp"},
		{"in the future", now.Add(50 * 365 * 24 * time.Hour), now, "wall clock"},
		{"now", now, now, "broker timestamp"},
	} {
		got, src := futureRef(c.broker, now)
		if !got.Equal(c.want) || src != c.src {
			t.Errorf("%s: futureRef = %s (%s), want %s (%s)", c.name, got, src, c.want, c.src)
		}
	}
}
