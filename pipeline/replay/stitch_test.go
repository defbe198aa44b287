package replay

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/schemas"
)

// ev builds an event line at minutes after 2026-11-27T00:00Z; user or anon
// may be empty.
func ev(id, user, anon string, minute int, extra string) string {
	ts := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute).Format(time.RFC3339Nano)
	var b strings.Builder
	fmt.Fprintf(&b, `{"event_id":%q`, id)
	if user != "" {
		fmt.Fprintf(&b, `,"user_id":%q`, user)
	}
	if anon != "" {
		fmt.Fprintf(&b, `,"anonymous_id":%q`, anon)
	}
	fmt.Fprintf(&b, `,"timestamp":%q%s}`+"\n", ts, extra)
	return b.String()
}

// stitchedReplay runs the link pass then the replay, as `attributor replay
// --identities` does.
func stitchedReplay(t *testing.T, cfg Config, ids, tps, cvs string) ([]schemas.CreditedRow, Stats, string) {
	t.Helper()
	var diag strings.Builder
	tab, ls, err := LinkPass(context.Background(), cfg, Input{Name: "id.ndjson", R: strings.NewReader(ids)},
		Input{Name: "tp.ndjson", R: strings.NewReader(tps)}, Input{Name: "cv.ndjson", R: strings.NewReader(cvs)}, &diag)
	if err != nil {
		t.Fatalf("LinkPass: %v", err)
	}
	cfg.Links = tab
	rows, st, d := replayText(t, cfg, tps, cvs)
	st.Links = &ls
	return rows, st, diag.String() + d
}

const rev = `,"revenue":100,"currency":"EUR"`

// A device clicks an ad and buys before its user logs in (the link comes
// after both); the user later visits by email, logged in, and buys from
// the backend. Both purchases are the user's, and the device's click is on
// both paths: the link applies before and after it.
func TestStitchingIsRetroactive(t *testing.T) {
	tps := ev("t1", "", "dev", 60, search) + ev("t2", "u1", "", 180, email)
	cvs := ev("c1", "", "dev", 90, rev) + ev("c2", "u1", "", 200, rev)
	ids := ev("id-1", "u1", "dev", 150, "")
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}}}

	rows, st, diag := stitchedReplay(t, cfg, ids, tps, cvs)
	if diag != "" {
		t.Errorf("diagnostics: %s", diag)
	}
	equalLines(t, "stitched", briefs(rows, ""), []string{
		"c1 linear t1 paid_search 1 100.000000 1/1",
		"c2 linear t1 paid_search 0.5 50.000000 1/2",
		"c2 linear t2 email 0.5 50.000000 2/2",
	})
	for _, r := range rows {
		if r.UserKey != "u1" {
			t.Errorf("user_key %q, want the stitched key u1", r.UserKey)
		}
	}
	if st.Stitched != 2 || st.Links.Devices != 1 || st.Links.Identities != 1 || st.Links.Conflicts != 0 {
		t.Errorf("stats %+v, links %+v: want 2 events stitched (t1, c1), 1 device", st, *st.Links)
	}

	// Without the link: c1 is the device's, c2 misses the click.
	rows, _, _ = replayText(t, cfg, tps, cvs)
	equalLines(t, "unstitched", briefs(rows, ""), []string{
		"c1 linear t1 paid_search 1 100.000000 1/1",
		"c2 linear t2 email 1 100.000000 1/1",
	})
}

// A logged-in event links its device as an identity event does; the
// earliest link wins over a later identity to another user (a shared
// device), which is a conflict.
func TestStitchingLinksFromEventsAndConflicts(t *testing.T) {
	tps := ev("t1", "", "dev", 60, search) + ev("t2", "u1", "dev", 100, email) + ev("t3", "", "dev", 300, direct)
	cvs := ev("c1", "u2", "", 310, rev)
	ids := ev("id-9", "u2", "dev", 200, "") // later than t2's link: a conflict
	cfg := Config{Attribution: attribution.Config{Models: []string{"linear"}}}
	rows, st, _ := stitchedReplay(t, cfg, ids, tps, cvs)
	// dev belongs to u1: u2's purchase has no touchpoint.
	equalLines(t, "rows", briefs(rows, ""), []string{"c1 linear  (none) 1 100.000000 0/0"})
	if st.Links.EventLinks != 1 || st.Links.Conflicts != 1 || st.Links.Devices != 1 || st.Stitched != 2 {
		t.Errorf("links %+v, stitched %d: want t2 linking dev to u1, u2 a conflict, t1 and t3 stitched", *st.Links, st.Stitched)
	}
}

// Deduplication is by the stitched key: the same conversion sent by the
// device (anonymous_id) and by the backend (user_id) counts once.
func TestStitchedDedup(t *testing.T) {
	tps := ev("t1", "", "dev", 60, search)
	cvs := ev("c1", "", "dev", 90, rev) + ev("c1", "u1", "", 91, rev)
	rows, st, _ := stitchedReplay(t, Config{Attribution: attribution.Config{Models: []string{"last_click"}}}, ev("i1", "u1", "dev", 5, ""), tps, cvs)
	if len(rows) != 1 || st.DuplicateConversions != 1 {
		t.Errorf("rows %v, stats %+v: want one conversion, one duplicate", briefs(rows, ""), st)
	}
}

func TestLinkPassReportsInvalidIdentities(t *testing.T) {
	ids := ev("i1", "u1", "dev", 5, "") + `{"event_id":"i2","anonymous_id":"dev","timestamp":1}` + "\n" + ev("i1", "u1", "dev", 5, "")
	_, st, diag := stitchedReplay(t, Config{}, ids, ev("t1", "", "dev", 60, search), ev("c1", "u1", "", 90, rev))
	if !strings.Contains(diag, "id.ndjson:2: user_id: required") || st.Links.InvalidIdentities != 1 ||
		st.Links.Identities != 2 || st.Links.DuplicateIdentities != 1 {
		t.Errorf("diag %q, links %+v", diag, *st.Links)
	}
}

// Property: the rows do not depend on the order of the lines. The identity
// file is shuffled; so are the touchpoint and conversion files (whose
// logged-in events link too), with a lateness that holds every conversion
// until the touchpoints are exhausted, so that the replay itself does not
// depend on their order (but for the order of the rows, compared sorted:
// conversions read after the last touchpoint are released as they come).
func TestStitchingOrderIndependence(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	for trial := range 200 {
		var tps, cvs, ids []string
		devices, users := 1+r.IntN(6), 1+r.IntN(4)
		for k := range 40 {
			minute := k * 7
			dev, user := fmt.Sprintf("d%d", r.IntN(devices)), fmt.Sprintf("u%d", r.IntN(users))
			switch r.IntN(5) {
			case 0:
				ids = append(ids, ev(fmt.Sprintf("i%d", k), user, dev, minute+r.IntN(7), ""))
			case 1:
				cvs = append(cvs, ev(fmt.Sprintf("c%d", k), pick(r, user, ""), dev, minute, rev))
			default:
				tps = append(tps, ev(fmt.Sprintf("t%d", k), pick(r, user, ""), dev, minute, pick(r, search, email, direct)))
			}
		}
		cfg := Config{Attribution: attribution.Config{Models: []string{"linear", "first_click"}}, AllowedLateness: 1000 * time.Hour}
		want, wst, _ := stitchedReplay(t, cfg, strings.Join(ids, ""), strings.Join(tps, ""), strings.Join(cvs, ""))
		for range 3 {
			for _, lines := range [][]string{ids, tps, cvs} {
				r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
			}
			got, st, _ := stitchedReplay(t, cfg, strings.Join(ids, ""), strings.Join(tps, ""), strings.Join(cvs, ""))
			equalLines(t, fmt.Sprintf("trial %d, lines shuffled", trial), slices.Sorted(slices.Values(briefKeys(got))), slices.Sorted(slices.Values(briefKeys(want))))
			if t.Failed() {
				t.Fatalf("ids %q\ntps %q\ncvs %q", ids, tps, cvs)
			}
			if st.Links.Elapsed, wst.Links.Elapsed = 0, 0; *st.Links != *wst.Links || st.Stitched != wst.Stitched {
				t.Fatalf("trial %d: summary differs: %+v %d, %+v %d", trial, *st.Links, st.Stitched, *wst.Links, wst.Stitched)
			}
		}
	}
}

func pick(r *rand.Rand, s ...string) string { return s[r.IntN(len(s))] }

func briefKeys(rows []schemas.CreditedRow) []string {
	out := briefs(rows, "")
	for i, r := range rows {
		out[i] += " " + r.UserKey
	}
	return out
}

// On generated logged-out traffic: stitching moves revenue from (none) to
// the channels the devices clicked, and the output is byte-identical
// whatever the order of the identity events (the generator delivers some
// late; here they are also reversed).
func TestStitchingGeneratedTraffic(t *testing.T) {
	var files [3]bytes.Buffer
	var ids []string
	err := generate.Generate(generate.Config{Seed: 5, Users: 4000, LoggedOutShare: 0.5}, func(k generate.Kind, _ string, v []byte) error {
		if k == generate.Identity {
			ids = append(ids, string(v)+"\n")
		}
		w := &files[k-1]
		w.Write(v)
		return w.WriteByte('\n')
	})
	if err != nil {
		t.Fatal(err)
	}
	tps, cvs := files[0].String(), files[1].String()
	cfg := Config{Attribution: attribution.Config{Models: []string{"last_click"}}}
	none := func(rows []schemas.CreditedRow) (n int) {
		for _, r := range rows {
			if r.Channel == schemas.ChannelNone {
				n++
			}
		}
		return n
	}
	plain, _, _ := replayText(t, cfg, tps, cvs)
	stitched, st, diag := stitchedReplay(t, cfg, files[2].String(), tps, cvs)
	if diag != "" {
		t.Fatalf("diagnostics: %s", diag)
	}
	if !(none(stitched) < none(plain)*3/4) || st.Stitched == 0 || st.Links.Conflicts == 0 {
		t.Errorf("unattributed: %d stitched, %d plain; %d events stitched, links %+v", none(stitched), none(plain), st.Stitched, *st.Links)
	}
	slices.Reverse(ids)
	again, _, _ := stitchedReplay(t, cfg, strings.Join(ids, ""), tps, cvs)
	equalLines(t, "identities reversed", briefKeys(again), briefKeys(stitched))
	t.Logf("conversions unattributed: %d without stitching, %d with; %d events stitched; links %+v", none(plain), none(stitched), st.Stitched, *st.Links)
}
