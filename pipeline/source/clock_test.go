package source

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// countingClock is a clock whose every reading is one second after the
// last, counting its readings.
type countingClock struct {
	t     time.Time
	reads int
}

func (c *countingClock) now() time.Time {
	c.reads++
	c.t = c.t.Add(time.Second)
	return c.t
}

// The time a fetcher routes a message at is read when its run is taken
// and at least every clockEvery messages within it: marks and the idle
// check never use a time older than that, and the clock is not read per
// message. (Where a run starts is fetch.Loop.Next's to say:
// fetch.TestNextSaysWhereARunStarts.)
func TestRunClockReadsTheClockEvery64Messages(t *testing.T) {
	clock := &countingClock{t: time.Unix(1_800_000_000, 0)}
	c := runClock{clock: clock.now}
	sizes := []int{1, 63, 64, 65, 1000, 3, 128, 129}
	total, wantReads := 0, 0
	var last time.Time
	for r, n := range sizes {
		same := 0
		for i := range n {
			now := c.at(i == 0)
			if i == 0 && !now.After(last) {
				t.Fatalf("run %d (%d messages): its first message has the time of the run before: the clock is not read when a run is taken", r, n)
			}
			if now.Equal(last) {
				same++
			} else {
				same = 1
			}
			if same > clockEvery {
				t.Fatalf("run %d, message %d: the same time for %d messages, want the clock read at least every %d", r, i, same, clockEvery)
			}
			last = now
		}
		total += n
		wantReads += (n + clockEvery - 1) / clockEvery
	}
	if clock.reads != wantReads {
		t.Errorf("the clock was read %d times for %d messages in %d runs, want %d (once per run and per %d messages in it)", clock.reads, total, len(sizes), wantReads, clockEvery)
	}
}

// The future check is made against the time the fetch loop last read,
// which may be many messages old; an event that fails it against that
// time is judged again against the clock before it is dead-lettered, so
// that a stale time never rejects an event that is not in the future.
func TestFutureCheckReadsTheClockBeforeDeadLettering(t *testing.T) {
	wall := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC) // touchpointJSON's events are at 09:00
	for _, c := range []struct {
		name      string
		stale     time.Duration // how much older than the clock the fetch loop's time is
		broker    time.Time
		wantDead  bool
		wantReads int
	}{
		{"fresh enough", 0, time.Time{}, false, 0},
		{"stale, no broker timestamp", 2 * time.Hour, time.Time{}, false, 1},
		{"stale, broker timestamp after it", 2 * time.Hour, wall.Add(-time.Minute), false, 1},
		{"stale, event in the future of the clock too", 3 * time.Hour, time.Time{}, true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newStitchRig(t, false, 0)
			f := r.fetcher(rigTP, 0)
			reads := 0
			clock := wall
			if c.wantDead {
				clock = wall.Add(-2 * time.Hour) // the event, at 09:00, is 90 minutes after it: beyond the hour allowed
			}
			f.clock = func() time.Time { reads++; return clock }
			m := kafka.Message{Topic: rigTP, Partition: 0, Offset: 7, Value: []byte(touchpointJSON("tp-1", keyWithHome("user-", 0), "")), Time: c.broker}
			f.tracker.Add(m.Offset)
			if !f.route(context.Background(), &m, true, clock.Add(-c.stale)) {
				t.Fatal("route returned false")
			}
			items, _ := r.items()
			dead := len(r.direct) == 1 && len(r.direct[0].Dead) == 1 && r.direct[0].Dead[0].Reason == flow.ReasonFuture
			if dead != c.wantDead || len(items)+len(r.direct) != 1 {
				t.Errorf("%d items, %d direct units (future dead letter: %v); want future dead letter %v", len(items), len(r.direct), dead, c.wantDead)
			}
			if dead && !strings.Contains(r.direct[0].Dead[0].Err, clock.Format(time.RFC3339)) {
				t.Errorf("dead letter %q: want it judged against the clock read afresh, %s", r.direct[0].Dead[0].Err, clock.Format(time.RFC3339))
			}
			if reads != c.wantReads {
				t.Errorf("the clock was read %d times, want %d", reads, c.wantReads)
			}
		})
	}
}
