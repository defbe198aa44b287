package sessionize

import "testing"

// A home's watermark is the lowest over every input touchpoint partition,
// once each has been heard from; it never goes back (a stale mark, or one
// lower than where the home started, changes nothing), and it is caught
// up only when every input partition is.
func TestHomeWatermarkIsTheLowestInput(t *testing.T) {
	ps := &partState{wm: 50, srcs: make([]srcMark, 3)}
	steps := []struct {
		src      int32
		wm       int64
		caughtUp bool
		want     int64
		wantDone bool
	}{
		{0, 100, true, 50, false},   // 1 and 2 not heard yet: stays at its start
		{2, 300, true, 50, false},   // 1 still unheard
		{1, 200, false, 100, false}, // all heard: the lowest, 0's
		{0, 400, true, 200, false},  // now 1's
		{1, 20, true, 200, true},    // a stale mark of 1: its watermark stays 200; all caught up
		{2, 250, false, 200, false}, // 2's own mark never goes back either; 2 is behind its log end again
		{1, 500, true, 300, false},  // lowest is 2's 300
		{7, 1000, true, 300, false}, // a partition added since the start: not counted until the next generation
	}
	for i, st := range steps {
		ps.mark(st.src, st.wm, st.caughtUp)
		if ps.wm != st.want || ps.caughtUp != st.wantDone {
			t.Errorf("step %d (partition %d at %d): watermark %d caught up %v; want %d, %v", i, st.src, st.wm, ps.wm, ps.caughtUp, st.want, st.wantDone)
		}
	}
}
