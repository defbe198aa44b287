package replay

import (
	"strings"
	"testing"
	"time"
)

// One touchpoint stamped 2099 in the middle of a file changes nobody's
// credits: it is left out, counted and reported with its line, instead of
// moving the watermark (and the merge) 73 years ahead, which released
// every conversion before the touchpoints after it were read and pruned
// every user's state. A conversion in 2099 is left out the same way.
func TestFutureEventsAreLeftOut(t *testing.T) {
	tps := tpLine("a1", "alice", 0, `,"source":"google","medium":"cpc"`) +
		tpLine("b1", "bob", 5, `,"source":"newsletter","medium":"email"`) +
		`{"event_id":"x2099","user_id":"carol","timestamp":"2099-06-01T00:00:00Z","source":"google","medium":"cpc"}` + "\n" +
		tpLine("a2", "alice", 10, `,"source":"facebook","medium":"paid_social"`) +
		tpLine("b2", "bob", 20, `,"source":"google","medium":"organic"`)
	cvs := cvLine("a-cv", "alice", 30, "30") + cvLine("b-cv", "bob", 40, "20") +
		`{"event_id":"y2099","user_id":"alice","timestamp":"2099-06-01T00:00:00Z","revenue":99}` + "\n"
	clean := func(s string) string {
		var out []string
		for _, l := range strings.SplitAfter(s, "\n") {
			if !strings.Contains(l, "2099") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "")
	}
	cfg := Config{AsOf: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	got, st, diag := replayText(t, cfg, tps, cvs)
	want, _, _ := replayText(t, cfg, clean(tps), clean(cvs))
	equalLines(t, "credited rows with the 2099 events", briefs(got, ""), briefs(want, ""))
	if st.FutureTouchpoints != 1 || st.FutureConversions != 1 || st.InvalidTouchpoints != 0 || st.Attributed != 2 {
		t.Errorf("stats: %d future touchpoints, %d future conversions, %d invalid, %d attributed; want 1, 1, 0, 2", st.FutureTouchpoints, st.FutureConversions, st.InvalidTouchpoints, st.Attributed)
	}
	for _, w := range []string{"tp.ndjson:3: timestamp: 2099-06-01T00:00:00Z is more than max_future_skew 1h0m0s after 2026-11-30T12:00:00Z", "cv.ndjson:3: timestamp: 2099"} {
		if !strings.Contains(diag, w) {
			t.Errorf("diagnostics do not report %q:\n%s", w, diag)
		}
	}
	// Within the skew of AsOf an event is kept.
	near := `{"event_id":"near","user_id":"dave","timestamp":"2026-11-30T12:30:00Z","source":"google","medium":"cpc"}` + "\n"
	if _, st, _ := replayText(t, cfg, near, ""); st.FutureTouchpoints != 0 || st.Touchpoints != 1 {
		t.Errorf("a touchpoint 30 minutes after as-of: %d future, %d read; want 0, 1", st.FutureTouchpoints, st.Touchpoints)
	}
}
