package rollup

import (
	"testing"
	"time"
)

// A statement covers at most n days, all of one month (one partition of
// the tables read), in order.
func TestChunksStayInOneMonth(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	days := []time.Time{d("2026-08-29"), d("2026-08-30"), d("2026-08-31"), d("2026-09-01"), d("2026-09-02"), d("2026-09-03"), d("2026-10-01"), d("2027-10-02")}
	var got []string
	for _, c := range chunks(days, 2) {
		got = append(got, dateList(c))
	}
	want := []string{
		"toDate('2026-08-29'), toDate('2026-08-30')", "toDate('2026-08-31')",
		"toDate('2026-09-01'), toDate('2026-09-02')", "toDate('2026-09-03')",
		"toDate('2026-10-01')", "toDate('2027-10-02')",
	}
	if len(got) != len(want) {
		t.Fatalf("chunks %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("chunk %d = %q, want %q", i, got[i], want[i])
		}
	}
}
