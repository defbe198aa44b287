package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// replayText replays NDJSON given as strings and returns the rows, the
// stats and what was reported on diag.
func replayText(t *testing.T, cfg Config, tps, cvs string) ([]schemas.CreditedRow, Stats, string) {
	t.Helper()
	var rows []schemas.CreditedRow
	var diag strings.Builder
	st, err := Run(context.Background(), cfg,
		Input{Name: "tp.ndjson", R: strings.NewReader(tps)},
		Input{Name: "cv.ndjson", R: strings.NewReader(cvs)},
		RowSinkFunc(func(r *schemas.CreditedRow) error { rows = append(rows, *r); return nil }), &diag)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rows, st, diag.String()
}

// brief prints a row as "conversion model touchpoint channel credit revenue position/length".
func brief(r schemas.CreditedRow) string {
	return fmt.Sprintf("%s %s %s %s %v %s %d/%d", r.ConversionID, r.Model, r.TouchpointID, r.Channel, r.Credit,
		schemas.FormatMicros(r.RevenueMicros), r.Position, r.PathLength)
}

func briefs(rows []schemas.CreditedRow, model string) []string {
	var out []string
	for _, r := range rows {
		if model == "" || r.Model == model {
			out = append(out, brief(r))
		}
	}
	return out
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// tpLine and cvLine build events at minutes after 2026-11-27T00:00Z.
func tpLine(id, user string, minute int, extra string) string {
	ts := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute).Format(time.RFC3339Nano)
	return fmt.Sprintf(`{"event_id":%q,"user_id":%q,"timestamp":%q%s}`+"\n", id, user, ts, extra)
}

func cvLine(id, user string, minute int, revenue string) string {
	ts := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute).Format(time.RFC3339Nano)
	return fmt.Sprintf(`{"event_id":%q,"user_id":%q,"timestamp":%q,"revenue":%s,"currency":"EUR"}`+"\n", id, user, ts, revenue)
}

const (
	search = `,"source":"google","medium":"cpc"`
	email  = `,"source":"newsletter","medium":"email"`
	direct = `,"channel":"direct"`
)

// The README example: three touchpoints over a week, one conversion of 100.
func TestHandCheckedExample(t *testing.T) {
	tps, err := os.ReadFile(filepath.Join("..", "..", "testdata", "example", "touchpoints.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	cvs, err := os.ReadFile(filepath.Join("..", "..", "testdata", "example", "conversions.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	rows, st, diag := replayText(t, Config{}, string(tps), string(cvs))
	if diag != "" {
		t.Errorf("diagnostics: %s", diag)
	}
	equalLines(t, "last_click", briefs(rows, "last_click"), []string{
		"c1 last_click t1 paid_search 0 0.000000 1/3",
		"c1 last_click t2 email 0 0.000000 2/3",
		"c1 last_click t3 direct 1 100.000000 3/3",
	})
	equalLines(t, "linear", briefs(rows, "linear"), []string{
		"c1 linear t1 paid_search 0.3333333333333333 33.333334 1/3",
		"c1 linear t2 email 0.3333333333333333 33.333333 2/3",
		"c1 linear t3 direct 0.3333333333333333 33.333333 3/3",
	})
	equalLines(t, "position_based", briefs(rows, "position_based"), []string{
		"c1 position_based t1 paid_search 0.4 40.000000 1/3",
		"c1 position_based t2 email 0.19999999999999996 20.000000 2/3",
		"c1 position_based t3 direct 0.4 40.000000 3/3",
	})
	equalLines(t, "last_non_direct", briefs(rows, "last_non_direct"), []string{
		"c1 last_non_direct t1 paid_search 0 0.000000 1/3",
		"c1 last_non_direct t2 email 1 100.000000 2/3",
		"c1 last_non_direct t3 direct 0 0.000000 3/3",
	})
	if len(rows) != 6*3 {
		t.Errorf("rows = %d, want 18 (6 models × 3 touchpoints)", len(rows))
	}
	want := Stats{Touchpoints: 3, Conversions: 1, Attributed: 1, Rows: 18}
	st.Elapsed = 0
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	r := rows[0]
	if r.UserKey != "alice" || r.ConversionType != "purchase" || r.Currency != "EUR" || r.Source != "google" || r.Medium != "cpc" ||
		r.Campaign != "brand" || r.Interaction != "click" || schemas.FormatTimeMs(r.TouchpointTimeMs) != "2026-11-20T10:00:00.000Z" ||
		schemas.FormatTimeMs(r.ConversionTimeMs) != "2026-11-27T08:05:00.000Z" {
		t.Errorf("first row fields: %+v", r)
	}
}

func TestUnattributedRow(t *testing.T) {
	cfg := Config{Attribution: attribution.Config{Models: []string{"last_click", "linear"}, Lookback: time.Hour}}
	// bob's only click is two hours before his conversion: outside the lookback.
	rows, st, _ := replayText(t, cfg,
		tpLine("t1", "bob", 0, search),
		cvLine("c1", "bob", 120, "12.5")+cvLine("c2", "carol", 130, "7"))
	equalLines(t, "rows", briefs(rows, ""), []string{
		"c1 last_click  (none) 1 12.500000 0/0",
		"c1 linear  (none) 1 12.500000 0/0",
		"c2 last_click  (none) 1 7.000000 0/0",
		"c2 linear  (none) 1 7.000000 0/0",
	})
	if st.Attributed != 2 || st.Unattributed != 2 {
		t.Errorf("attributed %d, unattributed %d; want 2, 2", st.Attributed, st.Unattributed)
	}
	r := rows[0]
	if r.Source != "" || r.Medium != "" || r.Campaign != "" || r.Interaction != "" || r.TouchpointTimeMs != 0 || r.UserKey != "bob" {
		t.Errorf("unattributed row carries touchpoint fields: %+v", r)
	}
}

// Impressions count only inside the view-through window: the replay must
// carry interaction through to the engine.
func TestImpressionsUseViewWindow(t *testing.T) {
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}, ViewWindow: time.Hour}}
	imp := `,"interaction":"impression","source":"gdn","medium":"display"`
	rows, _, _ := replayText(t, cfg,
		tpLine("old-view", "u", 0, imp)+tpLine("old-click", "u", 1, search)+tpLine("new-view", "u", 100, imp),
		cvLine("c", "u", 120, "10"))
	equalLines(t, "linear", briefs(rows, ""), []string{
		"c linear old-click paid_search 0.5 5.000000 1/2",
		"c linear new-view display 0.5 5.000000 2/2",
	})
	if rows[1].Interaction != "impression" {
		t.Errorf("interaction = %q, want impression", rows[1].Interaction)
	}
}

func TestInvalidLinesAreReportedAndSkipped(t *testing.T) {
	tps := tpLine("t1", "u", 0, search) +
		"not json\n" +
		"   \n" +
		`{"event_id":"t2","timestamp":"2026-11-27T00:01:00Z"}` + "\n" +
		tpLine("t3", "u", 2, email)
	cvs := "\n" +
		`{"event_id":"c0","user_id":"u","timestamp":"yesterday"}` + "\n" +
		`{"event_id":"c1","user_id":"u","timestamp":"2026-11-27T00:03:00Z","revenue":-1}` + "\n" +
		"[]\n" +
		cvLine("c2", "u", 3, "10")
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}}, MaxErrorsShown: 2}
	rows, st, diag := replayText(t, cfg, tps, cvs)
	// Reported in the order the merge reaches them: the conversions before
	// the first valid one are passed over to find the head of that input.
	wantDiag := []string{
		`cv.ndjson:2: timestamp: not RFC 3339: "yesterday"; expected a time such as "2024-03-15T14:30:00Z" or integer epoch milliseconds`,
		"cv.ndjson:3: revenue: must not be negative, got -1",
		"cv.ndjson: more than 2 invalid lines; counting the rest without printing them",
		"tp.ndjson:2: json: not a JSON object",
		"tp.ndjson:4: user_id: user_id or anonymous_id is required",
	}
	equalLines(t, "diagnostics", strings.Split(strings.TrimSpace(diag), "\n"), wantDiag)
	if st.InvalidTouchpoints != 2 || st.InvalidConversions != 3 {
		t.Errorf("invalid = %d touchpoints, %d conversions; want 2, 3", st.InvalidTouchpoints, st.InvalidConversions)
	}
	if st.Touchpoints != 2 || st.Conversions != 1 {
		t.Errorf("read %d touchpoints, %d conversions; want 2, 1", st.Touchpoints, st.Conversions)
	}
	equalLines(t, "rows", briefs(rows, ""), []string{
		"c2 linear t1 paid_search 0.5 5.000000 1/2",
		"c2 linear t3 email 0.5 5.000000 2/2",
	})
}

func TestLongLines(t *testing.T) {
	// A valid line far longer than the read buffer.
	pad := strings.Repeat(" ", 600<<10)
	long := `{"event_id":"t1",` + pad + `"user_id":"u","timestamp":"2026-11-27T00:00:00Z","source":"google","medium":"cpc"}` + "\n"
	rows, st, diag := replayText(t, Config{Attribution: attribution.Config{Models: []string{"linear"}}}, long, cvLine("c", "u", 1, "1"))
	if diag != "" || st.Touchpoints != 1 || len(rows) != 1 || rows[0].TouchpointID != "t1" {
		t.Errorf("long line: diag %q, stats %+v, rows %v", diag, st, briefs(rows, ""))
	}

	// Over the limit: reported with its number, the next lines still read.
	lr := newLineReader(strings.NewReader("abc\n"+strings.Repeat("x", 100)+"\r\nde\r\n"+strings.Repeat("y", 60)+"\nlast"), 50)
	type step struct {
		line string
		err  error
		n    int
	}
	var got []step
	for {
		b, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		got = append(got, step{string(b), err, lr.line})
	}
	want := []step{{"abc", nil, 1}, {"", errLineTooLong, 2}, {"de", nil, 3}, {"", errLineTooLong, 4}, {"last", nil, 5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines = %v, want %v", got, want)
	}
}

func TestDuplicatesFirstSeenWins(t *testing.T) {
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}}}
	rows, st, _ := replayText(t, cfg,
		tpLine("t1", "u", 0, search)+tpLine("t2", "u", 5, email)+tpLine("t1", "u", 6, direct),
		cvLine("c1", "u", 10, "9")+cvLine("c1", "u", 10, "9")+cvLine("c1", "u", 11, "90"))
	equalLines(t, "rows", briefs(rows, ""), []string{
		"c1 linear t1 paid_search 0.5 4.500000 1/2",
		"c1 linear t2 email 0.5 4.500000 2/2",
	})
	if st.DuplicateTouchpoints != 1 || st.DuplicateConversions != 2 || st.Attributed != 1 {
		t.Errorf("stats %+v: want 1 duplicate touchpoint, 2 duplicate conversions, 1 attributed", st)
	}
}

// A touchpoint read after its conversion was released is late: counted, and
// not in the path. Allowed lateness holds the conversion back until the
// watermark has passed it by that much, so the same input then attributes
// the straggler.
func TestLatenessAndLateTouchpoints(t *testing.T) {
	tps := tpLine("early", "u", 0, search) +
		tpLine("other", "v", 12, direct) + // moves the watermark past c
		tpLine("straggler", "u", 9, email) + // 3 minutes out of order
		tpLine("last", "v", 30, direct)
	cvs := cvLine("c", "u", 10, "10")

	rows, st, _ := replayText(t, Config{Attribution: attribution.Config{Models: []string{"linear"}}}, tps, cvs)
	equalLines(t, "lateness 0", briefs(rows, ""), []string{"c linear early paid_search 1 10.000000 1/1"})
	if st.LateTouchpoints != 1 {
		t.Errorf("late touchpoints = %d, want 1", st.LateTouchpoints)
	}

	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}}, AllowedLateness: 5 * time.Minute}
	rows, st, _ = replayText(t, cfg, tps, cvs)
	equalLines(t, "lateness 5m", briefs(rows, ""), []string{
		"c linear early paid_search 0.5 5.000000 1/2",
		"c linear straggler email 0.5 5.000000 2/2",
	})
	if st.LateTouchpoints != 0 {
		t.Errorf("late touchpoints = %d, want 0", st.LateTouchpoints)
	}

	// Lateness 1m is not enough: the straggler arrives when W = 12 >= 10 + 1.
	cfg.AllowedLateness = time.Minute
	_, st, _ = replayText(t, cfg, tps, cvs)
	if st.LateTouchpoints != 1 {
		t.Errorf("lateness 1m: late touchpoints = %d, want 1", st.LateTouchpoints)
	}
}

// Conversions are released in (timestamp, event_id) order whatever order
// they arrive in, and only once the watermark passes them.
func TestReleaseOrder(t *testing.T) {
	cfg := Config{Attribution: attribution.Config{Models: []string{"last_click"}}, AllowedLateness: time.Hour}
	var order []string
	_, err := Run(context.Background(), cfg,
		Input{Name: "tp", R: strings.NewReader(tpLine("t", "u", 0, search) + tpLine("t2", "u", 200, search))},
		Input{Name: "cv", R: strings.NewReader(cvLine("b", "u", 20, "1") + cvLine("a", "u", 20, "1") + cvLine("z", "u", 10, "1"))},
		RowSinkFunc(func(r *schemas.CreditedRow) error { order = append(order, r.ConversionID); return nil }), new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "z,a,b" {
		t.Errorf("release order = %s, want z,a,b", got)
	}
}

func TestResetOnConversion(t *testing.T) {
	tps := tpLine("t1", "u", 0, search) + tpLine("t2", "u", 20, email)
	cvs := cvLine("c1", "u", 10, "10") + cvLine("c2", "u", 30, "20")
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}}}
	rows, _, _ := replayText(t, cfg, tps, cvs)
	equalLines(t, "no reset", briefs(rows, ""), []string{
		"c1 linear t1 paid_search 1 10.000000 1/1",
		"c2 linear t1 paid_search 0.5 10.000000 1/2",
		"c2 linear t2 email 0.5 10.000000 2/2",
	})
	cfg.Attribution.ResetOnConversion = true
	rows, _, _ = replayText(t, cfg, tps, cvs)
	equalLines(t, "reset", briefs(rows, ""), []string{
		"c1 linear t1 paid_search 1 10.000000 1/1",
		"c2 linear t2 email 1 20.000000 1/1",
	})
	// A conversion released after a later one (here: the touchpoints end
	// first, so each conversion is released as it is read) is bounded by
	// the user's conversion before it in time, not by the last released.
	late := cvLine("c2", "u", 30, "20") + cvLine("c1", "u", 10, "10")
	rows, _, _ = replayText(t, cfg, tps, late)
	equalLines(t, "reset, late conversion", briefs(rows, ""), []string{
		"c2 linear t1 paid_search 0.5 10.000000 1/2",
		"c2 linear t2 email 0.5 10.000000 2/2",
		"c1 linear t1 paid_search 1 10.000000 1/1",
	})
}

// A conversion older than the prune horizon is counted as late and
// attributed with whatever its user still holds.
func TestLateConversion(t *testing.T) {
	tps := tpLine("a", "u", 0, search) + tpLine("b", "v", 180, direct)
	cvs := cvLine("c2", "v", 240, "1") + cvLine("c1", "u", 30, "1")
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}, Lookback: time.Hour}}
	rows, st, _ := replayText(t, cfg, tps, cvs)
	if st.LateConversions != 1 {
		t.Errorf("late conversions = %d, want 1", st.LateConversions)
	}
	equalLines(t, "not pruned yet", briefs(rows, ""), []string{
		"c2 linear b direct 1 1.000000 1/1",
		"c1 linear a paid_search 1 1.000000 1/1",
	})
	cfg.PruneEvery = 1
	rows, _, _ = replayText(t, cfg, tps, cvs)
	equalLines(t, "pruned", briefs(rows, ""), []string{
		"c2 linear b direct 1 1.000000 1/1",
		"c1 linear  (none) 1 1.000000 0/0",
	})
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{AllowedLateness: -time.Second}, "allowed_lateness: must be >= 0"},
		{Config{Attribution: attribution.Config{Lookback: -time.Hour}}, "lookback: must be > 0"},
		{Config{Attribution: attribution.Config{Models: []string{"nope"}}}, `models: unknown model "nope"`},
	} {
		_, err := Run(context.Background(), c.cfg, Input{R: strings.NewReader("")}, Input{R: strings.NewReader("")}, RowSinkFunc(nil), new(strings.Builder))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestSinkErrorStopsTheReplay(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		u := fmt.Sprint("u", i)
		b.WriteString(tpLine("t"+u, u, i%600, search))
	}
	var cvs strings.Builder
	for i := range 5000 {
		u := fmt.Sprint("u", i)
		cvs.WriteString(cvLine("c"+u, u, 600+i%60, "1"))
	}
	boom := errors.New("disk full")
	n := 0
	st, err := Run(context.Background(), Config{}, Input{Name: "tp", R: strings.NewReader(b.String())}, Input{Name: "cv", R: strings.NewReader(cvs.String())},
		RowSinkFunc(func(*schemas.CreditedRow) error {
			if n++; n == 3 {
				return boom
			}
			return nil
		}), new(strings.Builder))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if st.Rows != 3 {
		t.Errorf("rows = %d, want 3", st.Rows)
	}
}
