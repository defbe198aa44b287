package fit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/fit"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

const (
	hour int64 = 3600_000
	day        = 24 * hour
	t0   int64 = 1_709_294_400_000 // 2024-03-01T12:00:00Z
)

func newDB(t *testing.T) *pipelinetest.Env {
	t.Helper()
	e := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.Migrate(ctx, e.CH, e.Database); err != nil {
		t.Fatal(err)
	}
	return e
}

type keyEvents struct {
	tps   []attribution.Touchpoint // sorted, deduplicated
	convs []attribution.Conversion
}

// TestPathsMatchBuilder: the fitting paths ClickHouse builds from the raw
// tables equal FitPathsBuilder's from the same events in memory, with and
// without reset, under several windows.
func TestPathsMatchBuilder(t *testing.T) {
	e := newDB(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(15, 30))
	channels := []string{"email", "paid_search", "display", "direct", "social"}
	keys := map[string]*keyEvents{}
	tb, err := e.CH.PrepareBatch(ctx, "INSERT INTO "+e.Database+".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel, too_late)")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := e.CH.PrepareBatch(ctx, "INSERT INTO "+e.Database+".conversions (event_id, user_key, ts_ms, event_date, revenue_micros)")
	if err != nil {
		t.Fatal(err)
	}
	for u := range 300 {
		key := fmt.Sprintf("u%03d", u)
		k := &keyEvents{}
		keys[key] = k
		var j attribution.Journey
		for i := range rng.IntN(12) {
			tp := attribution.Touchpoint{ID: fmt.Sprintf("%s-t%02d", key, i), TimeMs: t0 + (rng.Int64N(40*4)-20*4)*6*hour + rng.Int64N(3)*hour,
				Impression: rng.IntN(4) == 0, Channel: channels[rng.IntN(len(channels))]}
			tooLate := rng.IntN(20) == 0
			interaction := "click"
			if tp.Impression {
				interaction = "impression"
			}
			copies := 1 + rng.IntN(2) // a retried insert: the same row twice
			for range copies {
				if err := tb.Append(tp.ID, key, tp.TimeMs, time.UnixMilli(tp.TimeMs).UTC(), interaction, tp.Channel, uint8(map[bool]int{true: 1}[tooLate])); err != nil {
					t.Fatal(err)
				}
			}
			if !tooLate {
				j.Add(tp)
			}
		}
		k.tps = slices.Clone(j.Touchpoints())
		for i := range rng.IntN(4) {
			cv := attribution.Conversion{ID: fmt.Sprintf("%s-c%d", key, i), TimeMs: t0 + (rng.Int64N(40*4)-20*4)*6*hour, RevenueMicros: 1}
			k.convs = append(k.convs, cv)
			for range 1 + rng.IntN(2) {
				if err := cb.Append(cv.ID, key, cv.TimeMs, time.UnixMilli(cv.TimeMs).UTC(), int64(1)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := tb.Send(); err != nil {
		t.Fatal(err)
	}
	if err := cb.Send(); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)

	for _, tc := range []struct {
		name     string
		cfg      attribution.Config
		from, to int64
	}{
		{"defaults", attribution.Config{}, t0 - 5*day, t0 + 5*day},
		{"reset", attribution.Config{ResetOnConversion: true}, t0 - 5*day, t0 + 5*day},
		{"short windows, reset", attribution.Config{Lookback: 48 * time.Hour, ViewWindow: 6 * time.Hour, ResetOnConversion: true}, t0 - 10*day, t0 + 2*day},
		{"view window beyond the lookback", attribution.Config{Lookback: 24 * time.Hour, ViewWindow: 72 * time.Hour}, t0, t0 + 3*day},
		{"empty window", attribution.Config{}, t0, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := attribution.NewFitPathsBuilder(tc.cfg, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range names {
				b.Add(keys[k].tps, keys[k].convs)
			}
			want := b.FitPaths()
			got, err := fit.Paths(ctx, e.CH, e.Database, tc.cfg, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ClickHouse's paths differ from the builder's:\n got %d paths %v\nwant %d paths %v", len(got.Paths), got.Paths, len(want.Paths), want.Paths)
			}
			var convs, nulls uint64
			for _, p := range want.Paths {
				convs, nulls = convs+p.Conversions, nulls+p.Nulls
			}
			if tc.from < tc.to && (len(want.Paths) < 5 || convs == 0 || nulls == 0) {
				t.Fatalf("%d distinct paths, %d conversions, %d nulls: the test data does not exercise the query", len(want.Paths), convs, nulls)
			}
			t.Logf("%d distinct paths, %d conversions, %d nulls", len(want.Paths), convs, nulls)
		})
	}
}

// TestStoreAndLatest stores fits and loads the newest of each model back.
func TestStoreAndLatest(t *testing.T) {
	e := newDB(t)
	ctx := context.Background()
	paths := attribution.FitPaths{FromMs: t0, ToMs: t0 + day, Paths: []attribution.FitPath{
		{Channels: []string{"A"}, Conversions: 2},
		{Channels: []string{"A", "B"}, Conversions: 1},
		{Channels: []string{"B"}, Nulls: 2},
		{Channels: []string{"B", "A"}, Nulls: 1},
	}}
	if f, err := fit.Latest(ctx, e.CH, e.Database, "markov", 1); err != nil || f.Markov != nil || f.Shapley != nil {
		t.Fatalf("Latest before any fit = %+v, %v; want none", f, err)
	}
	created := time.UnixMilli(t0 + 2*day)
	var ids []string
	for i, order := range []int{1, 2, 1} {
		m, err := attribution.FitMarkov(paths, order)
		if err != nil {
			t.Fatal(err)
		}
		id, err := fit.Store(ctx, e.CH, e.Database, fit.Fit{Markov: m}, created.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != id || !strings.HasPrefix(id, fmt.Sprintf("markov-o%d-2024030", order)) {
			t.Errorf("id %q (fit's %q)", id, m.ID)
		}
		ids = append(ids, id)
	}
	s, err := attribution.FitShapley(paths)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := fit.Store(ctx, e.CH, e.Database, fit.Fit{Shapley: s}, created)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model string
		order int
		id    string
	}{{"markov", 1, ids[2]}, {"markov", 2, ids[1]}, {"shapley", 0, sid}} {
		f, err := fit.Latest(ctx, e.CH, e.Database, tc.model, tc.order)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		switch {
		case f.Markov != nil:
			id = f.Markov.ID
			if f.Markov.Order != tc.order || f.Markov.Effects[0].RemovalEffect != 0.75 && tc.order == 1 {
				t.Errorf("loaded %+v", f.Markov)
			}
		case f.Shapley != nil:
			id = f.Shapley.ID
		}
		if id != tc.id {
			t.Errorf("Latest(%s, %d) = %q, want %q", tc.model, tc.order, id, tc.id)
		}
	}
	// The summary columns, for reports and people.
	var channels []string
	var shares []float64
	if err := e.CH.QueryRow(ctx, "SELECT channels, shares FROM "+e.Database+".model_fits WHERE fit_id = ?", ids[0]).Scan(&channels, &shares); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(channels, []string{"A", "B"}) || len(shares) != 2 || shares[0] != 0.6 {
		t.Errorf("channels %v shares %v, want A, B and 0.6, 0.4", channels, shares)
	}
	if _, err := fit.Store(ctx, e.CH, e.Database, fit.Fit{}, created); err == nil {
		t.Error("Store(no fit) succeeded")
	}
	if _, err := fit.Latest(ctx, e.CH, e.Database, "linear", 0); err == nil {
		t.Error("Latest(linear) succeeded")
	}
}
