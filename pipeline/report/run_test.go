package report

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

func runReport(t *testing.T, f *fixture, name string, flt Filter) *Result {
	t.Helper()
	r, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, f.conn, f.db, r, flt)
	if err != nil {
		t.Fatalf("report %s %+v: %v", name, flt, err)
	}
	return res
}

// cell returns the value of the named column.
func (res *Result) cell(row []Value, name string) Value {
	for i, c := range res.Columns {
		if c.Name == name {
			return row[i]
		}
	}
	panic("no column " + name)
}

// Every report runs on real data and prints in every format.
func TestReportsRun(t *testing.T) {
	f := loadedFixture(t)
	for _, r := range Reports() {
		var flt Filter
		if r.ByID {
			flt.ID = docLookupID
		}
		res := runReport(t, f, r.Name, flt)
		if len(res.Rows) == 0 {
			t.Errorf("report %s: no rows", r.Name)
		}
		if r.DefaultLimit > 0 && len(res.Rows) != r.DefaultLimit {
			t.Errorf("report %s: %d rows, want its default limit %d", r.Name, len(res.Rows), r.DefaultLimit)
		}
		for _, format := range []Format{Table, CSV, JSON} {
			var b bytes.Buffer
			if err := res.Write(&b, format); err != nil || b.Len() == 0 {
				t.Errorf("report %s as %s: %v", r.Name, format, err)
			}
		}
	}
	// The generator makes a click follow an impression where a channel
	// serves them: no CTR above 100%, per channel and per day.
	for _, flt := range []Filter{{}, {From: "2026-10-25", To: "2026-10-25"}, {By: "campaign"}} {
		res := runReport(t, f, "channel_performance", flt)
		for _, row := range res.Rows {
			if ctr := res.cell(row, "ctr"); !ctr.Null && ctr.F > 1 {
				t.Errorf("channel_performance %+v: CTR %.2f for %v", flt, ctr.F, row)
			}
		}
	}
	if res := runReport(t, f, "top_paths", Filter{Limit: 3}); len(res.Rows) != 3 {
		t.Errorf("top_paths --limit 3: %d rows", len(res.Rows))
	}
}

// The window of the filtered reports: three days whose first is the only
// day paid_search is costed from its touchpoints.
func window(f *fixture) (from, to time.Time) {
	first := time.Time{}
	for _, t := range f.touchpoints {
		if d := dayOf(t.TimeMs); t.Channel == schemas.ChannelPaidSearch && (first.IsZero() || d.Before(first)) {
			first = d
		}
	}
	return first, first.AddDate(0, 0, 2)
}

// nearValue compares a nullable value with want, where ok=false means NULL.
func nearValue(v Value, want float64, ok bool) bool {
	if !ok {
		return v.Null
	}
	return !v.Null && near(v.F, want)
}

func inWindow(d, from, to time.Time) bool { return !d.Before(from) && !d.After(to) }

// channel_performance over a date range, for one model and channel: the sums
// of the days, and CPA and ROAS recomputed from them.
func TestReportChannelPerformanceFiltered(t *testing.T) {
	f := loadedFixture(t)
	from, to := window(f)
	type agg struct {
		impressions, clicks int64
		conversions         float64
		revenue, spend      int64
		feedDays, costDays  int
	}
	want := map[string]*agg{}
	for k, w := range f.expectChannelPerformance() {
		if k.model != "linear" || k.channel != schemas.ChannelPaidSearch || !inWindow(k.date, from, to) {
			continue
		}
		a := want[k.campaign]
		if a == nil {
			a = &agg{}
			want[k.campaign] = a
		}
		a.impressions += int64(w.impressions)
		a.clicks += int64(w.clicks)
		a.conversions += w.conversions
		a.revenue += w.revenue
		a.spend += w.spend()
		if w.hasFeed {
			a.feedDays++
		} else {
			a.costDays++
		}
	}
	res := runReport(t, f, "channel_performance", Filter{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Model: "linear", Channel: schemas.ChannelPaidSearch, By: "campaign"})
	if len(res.Rows) != len(want) {
		t.Errorf("%d rows, want one per campaign: %d", len(res.Rows), len(want))
	}
	mixed := 0
	for _, row := range res.Rows {
		campaign := res.cell(row, "campaign").S
		w := want[campaign]
		if w == nil || res.cell(row, "model").S != "linear" || res.cell(row, "channel").S != schemas.ChannelPaidSearch {
			t.Errorf("unexpected row %v", row)
			continue
		}
		source := "touchpoint_cost"
		switch {
		case w.feedDays > 0 && w.costDays > 0:
			source = "mixed"
			mixed++
		case w.feedDays > 0:
			source = "ad_spend"
		}
		got := func(name string) float64 { return res.cell(row, name).F }
		spend, revenue := float64(w.spend)/1e6, float64(w.revenue)/1e6
		if res.cell(row, "impressions").I != w.impressions || res.cell(row, "clicks").I != w.clicks ||
			!near(got("conversions"), w.conversions) || !near(got("revenue"), revenue) || !near(got("spend"), spend) ||
			res.cell(row, "spend_source").S != source ||
			!nearValue(res.cell(row, "cpa"), spend/w.conversions, w.conversions > 0 && w.spend >= 10000) ||
			!nearValue(res.cell(row, "roas"), revenue/spend, w.spend >= 10000) {
			t.Errorf("campaign %s: %v\nwant impressions %d clicks %d conversions %v revenue %v spend %v from %s, cpa %v roas %v",
				campaign, row, w.impressions, w.clicks, w.conversions, revenue, spend, source, spend/w.conversions, revenue/spend)
		}
	}
	if mixed == 0 {
		t.Error("no campaign mixes fed and touchpoint-cost days: the window misses the first day")
	}
}

// model_comparison over a date range: each model's sums per channel, and
// every model splitting the same total.
func TestReportModelComparisonFiltered(t *testing.T) {
	f := loadedFixture(t)
	from, to := window(f)
	conv := map[string]map[string]float64{}
	rev := map[string]map[string]int64{}
	for k, w := range f.expectModelComparison() {
		if !inWindow(k.date, from, to) {
			continue
		}
		if conv[k.channel] == nil {
			conv[k.channel], rev[k.channel] = map[string]float64{}, map[string]int64{}
		}
		for m, c := range w.conversions {
			conv[k.channel][m] += c
			rev[k.channel][m] += w.revenue[m]
		}
	}
	res := runReport(t, f, "model_comparison", Filter{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly)})
	if len(res.Rows) != len(conv) {
		t.Errorf("%d rows, want one per channel: %d", len(res.Rows), len(conv))
	}
	for _, row := range res.Rows {
		ch := res.cell(row, "channel").S
		for _, m := range attribution.ModelNames {
			c, r := res.cell(row, m+"_conversions").F, res.cell(row, m+"_revenue").F
			if !near(c, conv[ch][m]) || !near(r, float64(rev[ch][m])/1e6) {
				t.Errorf("%s %s: conversions %v revenue %v, want %v %v", ch, m, c, r, conv[ch][m], float64(rev[ch][m])/1e6)
			}
			if m == "last_click" {
				continue
			}
			d := res.cell(row, m+"_revenue_diff").F
			if wd := float64(rev[ch][m]-rev[ch]["last_click"]) / 1e6; !near(d, wd) {
				t.Errorf("%s %s_revenue_diff %v, want %v", ch, m, d, wd)
			}
		}
	}
}

// cohort_value selects cohorts by month: --from in the middle of a month
// keeps that month's cohort.
func TestReportCohortMonths(t *testing.T) {
	f := loadedFixture(t)
	nov := runReport(t, f, "cohort_value", Filter{From: "2026-11-15"})
	all := runReport(t, f, "cohort_value", Filter{})
	novFirst := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for _, row := range all.Rows {
		if !all.cell(row, "cohort_month").T.Before(novFirst) {
			n++
		}
	}
	if len(nov.Rows) != n || n == 0 || n == len(all.Rows) {
		t.Errorf("--from 2026-11-15: %d rows, want the %d of the November cohorts (of %d)", len(nov.Rows), n, len(all.Rows))
	}
}

// model_fits shows the newest fit of each model (not an older one), a row
// per channel whose shares sum to 1.
func TestModelFitsReport(t *testing.T) {
	f := loadedFixture(t)
	res := runReport(t, f, "model_fits", Filter{})
	shares := map[string]float64{}
	for _, row := range res.Rows {
		model, id := res.cell(row, "model").S, res.cell(row, "fit_id").S
		if id != f.fitIDs[model] {
			t.Errorf("model_fits: %s row of fit %q, want only the newest %q", model, id, f.fitIDs[model])
		}
		shares[model] += res.cell(row, "share").F
	}
	for _, m := range []string{"markov", "shapley"} {
		if math.Abs(shares[m]-1) > 1e-9 {
			t.Errorf("model_fits: %s shares sum to %v, want 1", m, shares[m])
		}
	}
	res = runReport(t, f, "model_fits", Filter{Model: "shapley"})
	for _, row := range res.Rows {
		if res.cell(row, "model").S != "shapley" {
			t.Fatalf("--model shapley shows a %s row", res.cell(row, "model").S)
		}
	}
}
