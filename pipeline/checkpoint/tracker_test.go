package checkpoint

import (
	"math/rand/v2"
	"testing"
)

func wantCommittable(t *testing.T, tr *Tracker, off int64, moved bool) {
	t.Helper()
	gotOff, gotMoved := tr.Committable()
	if gotOff != off || gotMoved != moved {
		t.Fatalf("committable() = %d, %v; want %d, %v", gotOff, gotMoved, off, moved)
	}
}

// Only the offset after the longest done prefix is committable.
func TestOffsetTrackerContiguous(t *testing.T) {
	tr := NewTracker(10)
	wantCommittable(t, tr, 10, false)
	for o := int64(10); o < 15; o++ {
		tr.Add(o)
	}
	tr.Done(11)
	tr.Done(12)
	wantCommittable(t, tr, 10, false) // 10 is not done: nothing moves
	tr.Done(10)
	wantCommittable(t, tr, 13, true)
	wantCommittable(t, tr, 13, false) // moved is reported once
	tr.Done(14)
	wantCommittable(t, tr, 13, false)
	if n := tr.Outstanding(); n != 2 {
		t.Fatalf("outstanding() = %d, want 2", n)
	}
	tr.Done(13)
	wantCommittable(t, tr, 15, true)
	if n := tr.Outstanding(); n != 0 {
		t.Fatalf("outstanding() = %d, want 0", n)
	}
}

// Offsets missing from the log (compaction, transaction markers) do not
// block the commit: with nothing outstanding, the committable offset
// follows the fetch position; with something outstanding, it jumps the gap
// once the prefix is done.
func TestOffsetTrackerGaps(t *testing.T) {
	tr := NewTracker(0)
	tr.Add(5) // nothing outstanding: 0..4 do not exist
	wantCommittable(t, tr, 5, true)
	tr.Add(9) // 5 outstanding: no jump
	wantCommittable(t, tr, 5, false)
	tr.Done(5)
	wantCommittable(t, tr, 6, true)
	tr.Done(9)
	wantCommittable(t, tr, 10, true)
	tr.Add(20)
	wantCommittable(t, tr, 20, true)
	tr.Done(20)
	wantCommittable(t, tr, 21, true)
}

// Done for an offset never added (committed by an earlier generation, or
// Done twice) changes nothing.
func TestOffsetTrackerUnknownDone(t *testing.T) {
	tr := NewTracker(100)
	tr.Add(100)
	tr.Add(101)
	tr.Done(99)
	tr.Done(102)
	wantCommittable(t, tr, 100, false)
	tr.Done(100)
	tr.Done(100)
	wantCommittable(t, tr, 101, true)
	tr.Done(101)
	tr.Done(100) // already committable
	wantCommittable(t, tr, 102, true)
}

// Marking offsets done in a random order, the committable offset is always
// the end of the done prefix, never beyond an offset not done.
func TestOffsetTrackerOutOfOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		const n = 10_000 // more than the compaction threshold of 4096
		tr := NewTracker(0)
		var offsets []int64
		next := int64(0)
		for range n {
			next += 1 + int64(rng.IntN(3)) // gaps of up to two offsets
			offsets = append(offsets, next)
			tr.Add(next)
		}
		isDone := make([]bool, n)
		prefix := 0 // offsets[:prefix] are done
		for _, i := range rng.Perm(n) {
			tr.Done(offsets[i])
			isDone[i] = true
			for prefix < n && isDone[prefix] {
				prefix++
			}
			want := offsets[0] // the first add jumped the gap before it
			if prefix > 0 {
				want = offsets[prefix-1] + 1
			}
			if got, _ := tr.Committable(); got != want {
				t.Fatalf("round %d: after %d done, committable %d, want %d", round, i, got, want)
			}
		}
		if tr.Outstanding() != 0 {
			t.Fatalf("round %d: %d outstanding after all done", round, tr.Outstanding())
		}
	}
}
