package replay

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// heavyUser returns the NDJSON of n touchpoints of one user over 20 days
// and of convs conversions spread over them.
func heavyUser(n, convs int) (tps, cvs []byte) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	step := 20 * 24 * time.Hour / time.Duration(n)
	ts := func(d time.Duration) string { return start.Add(d).Format("2006-01-02T15:04:05.000Z") }
	for i := range n {
		tps = fmt.Appendf(tps, `{"event_id":"tp-%d","user_id":"heavy","timestamp":%q,"source":"google","medium":"cpc","campaign":"c%d"}`+"\n", i, ts(time.Duration(i)*step), i%7)
	}
	for k := 1; k <= convs; k++ {
		cvs = fmt.Appendf(cvs, `{"event_id":"cv-%d","user_id":"heavy","timestamp":%q,"revenue":10,"currency":"EUR"}`+"\n", k, ts(time.Duration(k*n/convs)*step))
	}
	return tps, cvs
}

// One heavy user's conversions write at most models x 50 rows each, the
// cut is counted, and the summary says so.
func TestReplayHeavyUserRowsAreBounded(t *testing.T) {
	const n, convs, models, cap = 5000, 10, 6, 50
	tps, cvs := heavyUser(n, convs)
	_, st := replayBytes(t, Config{}, tps, cvs, NewRowWriter(io.Discard, NDJSON))
	if st.Attributed != convs || st.Rows != convs*models*cap || st.CappedPaths != convs {
		t.Fatalf("%d attributed, %d rows, %d capped paths; want %d, %d (models x cap each), %d", st.Attributed, st.Rows, st.CappedPaths, convs, convs*models*cap, convs)
	}
	var b strings.Builder
	st.WriteSummary(&b)
	if !strings.Contains(b.String(), "  path capped:           10\n") {
		t.Fatalf("summary:\n%s", b.String())
	}
}

// BenchmarkReplayHeavyUser replays 100k touchpoints of one user and 10 of
// its conversions: tp/s is input touchpoints per second, rows the credited
// rows written.
func BenchmarkReplayHeavyUser(b *testing.B) {
	const n = 100_000
	tps, cvs := heavyUser(n, 10)
	var rows int64
	for b.Loop() {
		_, st := replayBytes(b, Config{}, tps, cvs, NewRowWriter(io.Discard, NDJSON))
		rows = st.Rows
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tp/s")
	b.ReportMetric(float64(rows), "rows")
}
