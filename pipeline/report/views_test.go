package report

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// query runs sql over the fixture's database ({db} replaced) and calls scan
// for every row.
func (f *fixture) query(t *testing.T, sql string, scan func(scan func(dest ...any) error) error, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := f.conn.Query(ctx, replaceDB(sql, f.db), args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows.Scan); err != nil {
			t.Fatalf("%s: scan: %v", sql, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// diffReporter caps the errors of a comparison of many rows.
type diffReporter struct {
	t    *testing.T
	n    int
	name string
}

func (d *diffReporter) errorf(format string, args ...any) {
	d.t.Helper()
	if d.n++; d.n <= 15 {
		d.t.Errorf(d.name+": "+format, args...)
	}
}

func (d *diffReporter) done(rows int) {
	d.t.Helper()
	if d.n > 15 {
		d.t.Errorf("%s: ... %d differences in all", d.name, d.n)
	}
	if rows == 0 {
		d.t.Errorf("%s: no rows: the comparison proves nothing", d.name)
	}
}

func TestChannelPerformance(t *testing.T) { checkChannelPerformance(t, loadedFixture(t)) }

func checkChannelPerformance(t *testing.T, f *fixture) {
	want := f.expectChannelPerformance()
	d := &diffReporter{t: t, name: "channel_performance"}
	got := 0
	sources := map[string]int{}
	revenueByModel := map[string]int64{}
	f.query(t, `SELECT date, model, channel, campaign, impressions, clicks, ctr, users_reached, converting_users, conversion_rate,
		conversions, revenue_micros, revenue, spend_micros, spend, spend_source, cpa, roas FROM {db}.channel_performance`,
		func(scan func(...any) error) error {
			var k cpKey
			var impressions, clicks, reached, converting uint64
			var ctr, rate, cpa, roas *float64
			var conversions, revenue, spend float64
			var revenueMicros, spendMicros int64
			var source string
			if err := scan(&k.date, &k.model, &k.channel, &k.campaign, &impressions, &clicks, &ctr, &reached, &converting, &rate,
				&conversions, &revenueMicros, &revenue, &spendMicros, &spend, &source, &cpa, &roas); err != nil {
				return err
			}
			got++
			sources[source]++
			revenueByModel[k.model] += revenueMicros
			k.date = k.date.UTC()
			w := want[k]
			if w == nil {
				d.errorf("unexpected row %+v", k)
				return nil
			}
			delete(want, k)
			if impressions != w.impressions || clicks != w.clicks || reached != uint64(len(w.reached)) || converting != uint64(len(w.converting)) {
				d.errorf("%+v: impressions %d clicks %d reached %d converting %d, want %d %d %d %d", k,
					impressions, clicks, reached, converting, w.impressions, w.clicks, len(w.reached), len(w.converting))
			}
			if revenueMicros != w.revenue || revenue != float64(w.revenue)/1e6 || !near(conversions, w.conversions) {
				d.errorf("%+v: conversions %v revenue %d (%v), want %v %d", k, conversions, revenueMicros, revenue, w.conversions, w.revenue)
			}
			wantSource := "touchpoint_cost"
			if w.hasFeed {
				wantSource = "ad_spend"
			}
			if spendMicros != w.spend() || spend != float64(w.spend())/1e6 || source != wantSource {
				d.errorf("%+v: spend %d (%v) from %s, want %d from %s (touchpoint cost %d, feed %d)", k, spendMicros, spend, source, w.spend(), wantSource, w.touchpointCost, w.feed)
			}
			wantSpend := float64(w.spend()) / 1e6
			if !nearPtr(ctr, float64(w.clicks)/float64(w.impressions), w.impressions > 0) ||
				!nearPtr(rate, float64(len(w.converting))/float64(len(w.reached)), len(w.reached) > 0) ||
				!nearPtr(cpa, wantSpend/w.conversions, w.conversions > 0 && w.spend() >= 10000) ||
				!nearPtr(roas, float64(w.revenue)/float64(w.spend()), w.spend() >= 10000) {
				d.errorf("%+v: ctr %v conversion_rate %v cpa %v roas %v, want from impressions %d clicks %d reached %d converting %d conversions %v spend %v revenue %d",
					k, fmtPtr(ctr), fmtPtr(rate), fmtPtr(cpa), fmtPtr(roas), w.impressions, w.clicks, len(w.reached), len(w.converting), w.conversions, wantSpend, w.revenue)
			}
			return nil
		})
	for k := range want {
		d.errorf("missing row %+v", k)
	}
	d.done(got)
	if sources["ad_spend"] == 0 || sources["touchpoint_cost"] == 0 {
		t.Errorf("spend sources %v: the fixture should exercise both", sources)
	}

	// Every model's revenue, (none) included, adds up to the total revenue
	// of the attributed conversions.
	var total int64
	for _, p := range paths(f.credited) {
		total += p.revenue
	}
	if len(revenueByModel) != len(attribution.ModelNames) {
		t.Errorf("models %v, want the %d defaults", revenueByModel, len(attribution.ModelNames))
	}
	for m, r := range revenueByModel {
		if r != total {
			t.Errorf("model %s: revenue %s, want the total %s", m, schemas.FormatMicros(r), schemas.FormatMicros(total))
		}
	}
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprint(*p)
}

// The spend of a channel the feed reports but no touchpoint reached shows up,
// with nothing else, under every model; the spend fed twice under the same
// event_id counts once, with the later cost.
func TestChannelPerformanceFeedOnly(t *testing.T) {
	checkChannelPerformanceFeedOnly(t, loadedFixture(t))
}

func checkChannelPerformanceFeedOnly(t *testing.T, f *fixture) {
	var rows int
	f.query(t, `SELECT model, impressions, conversions, spend_micros, spend_source, cpa, roas FROM {db}.channel_performance
		WHERE channel = 'tv' AND campaign = 'launch' AND date = toDate(?)`,
		func(scan func(...any) error) error {
			var model, source string
			var impressions uint64
			var conversions float64
			var spend int64
			var cpa, roas *float64
			if err := scan(&model, &impressions, &conversions, &spend, &source, &cpa, &roas); err != nil {
				return err
			}
			rows++
			if impressions != 0 || conversions != 0 || spend != f.ghost.CostMicros || source != "ad_spend" || cpa != nil || roas == nil || *roas != 0 {
				t.Errorf("%s: impressions %d conversions %v spend %d from %s cpa %s roas %s; want only the spend %d, from ad_spend, CPA NULL, ROAS 0",
					model, impressions, conversions, spend, source, fmtPtr(cpa), fmtPtr(roas), f.ghost.CostMicros)
			}
			return nil
		}, f.ghost.Date.Format(time.DateOnly))
	if rows != len(attribution.ModelNames) {
		t.Errorf("%d rows for the feed-only channel, want one per model (%d)", rows, len(attribution.ModelNames))
	}
}

func TestModelComparison(t *testing.T) { checkModelComparison(t, loadedFixture(t)) }

func checkModelComparison(t *testing.T, f *fixture) {
	want := f.expectModelComparison()
	d := &diffReporter{t: t, name: "model_comparison"}
	names := attribution.ModelNames
	sql := "SELECT date, channel"
	for _, m := range names {
		sql += fmt.Sprintf(", %s_conversions, %s_revenue", m, m)
	}
	for _, m := range names[1:] {
		sql += fmt.Sprintf(", %s_conversions_diff, %s_revenue_diff", m, m)
	}
	sql += " FROM {db}.model_comparison"
	got := 0
	totals := map[string]float64{}
	f.query(t, sql, func(scan func(...any) error) error {
		var k mcKey
		vals := make([]float64, 2*len(names)+2*(len(names)-1))
		dest := []any{&k.date, &k.channel}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := scan(dest...); err != nil {
			return err
		}
		got++
		k.date = k.date.UTC()
		w := want[k]
		if w == nil {
			d.errorf("unexpected row %+v", k)
			return nil
		}
		delete(want, k)
		for i, m := range names {
			totals[m] += vals[2*i+1]
			if !near(vals[2*i], w.conversions[m]) || vals[2*i+1] != float64(w.revenue[m])/1e6 {
				d.errorf("%+v %s: conversions %v revenue %v, want %v %v", k, m, vals[2*i], vals[2*i+1], w.conversions[m], float64(w.revenue[m])/1e6)
			}
		}
		diffs := vals[2*len(names):]
		for i, m := range names[1:] {
			wc := w.conversions[m] - w.conversions["last_click"]
			wr := float64(w.revenue[m]-w.revenue["last_click"]) / 1e6
			if !near(diffs[2*i], wc) || diffs[2*i+1] != wr {
				d.errorf("%+v %s minus last_click: conversions %v revenue %v, want %v %v", k, m, diffs[2*i], diffs[2*i+1], wc, wr)
			}
		}
		return nil
	})
	for k := range want {
		d.errorf("missing row %+v", k)
	}
	d.done(got)
	for _, m := range names[1:] {
		if !near(totals[m], totals["last_click"]) {
			t.Errorf("total revenue under %s is %v, under last_click %v: every model must split the same total", m, totals[m], totals["last_click"])
		}
	}
}

func TestAssistedConversions(t *testing.T) { checkAssistedConversions(t, loadedFixture(t)) }

func checkAssistedConversions(t *testing.T, f *fixture) {
	want := f.expectAssisted()
	d := &diffReporter{t: t, name: "assisted_conversions"}
	got := 0
	var assisted uint64
	f.query(t, `SELECT date, channel, assisted_conversions, closed_conversions, assist_ratio, assisted_revenue, closed_revenue FROM {db}.assisted_conversions`,
		func(scan func(...any) error) error {
			var k mcKey
			var a, c uint64
			var ratio *float64
			var ar, cr float64
			if err := scan(&k.date, &k.channel, &a, &c, &ratio, &ar, &cr); err != nil {
				return err
			}
			got++
			assisted += a
			k.date = k.date.UTC()
			w := want[k]
			if w == nil {
				d.errorf("unexpected row %+v", k)
				return nil
			}
			delete(want, k)
			if a != w.assisted || c != w.closed || ar != float64(w.assistedRevenue)/1e6 || cr != float64(w.closedRevenue)/1e6 ||
				!nearPtr(ratio, float64(w.assisted)/float64(w.closed), w.closed > 0) {
				d.errorf("%+v: assisted %d closed %d ratio %s revenue %v/%v, want %d %d revenue %d/%d", k, a, c, fmtPtr(ratio), ar, cr,
					w.assisted, w.closed, w.assistedRevenue, w.closedRevenue)
			}
			return nil
		})
	for k := range want {
		d.errorf("missing row %+v", k)
	}
	d.done(got)
	if assisted == 0 {
		t.Error("no assisted conversions: the fixture has no multi-touch paths")
	}
}

// checkDistribution compares a distribution view (time_to_conversion or
// path_length) with want.
func checkDistribution(t *testing.T, f *fixture, view, bucket string, want map[distKey]*distWant) map[int64]uint64 {
	t.Helper()
	d := &diffReporter{t: t, name: view}
	got := 0
	buckets := map[int64]uint64{}
	f.query(t, fmt.Sprintf("SELECT date, channel, toInt64(%s), conversions, revenue_micros, revenue FROM {db}.%s", bucket, view),
		func(scan func(...any) error) error {
			var k distKey
			var n uint64
			var rev int64
			var revenue float64
			if err := scan(&k.date, &k.channel, &k.bucket, &n, &rev, &revenue); err != nil {
				return err
			}
			got++
			k.date = k.date.UTC()
			if k.channel == "all" {
				buckets[k.bucket] += n
			}
			w := want[k]
			if w == nil {
				d.errorf("unexpected row %+v", k)
				return nil
			}
			delete(want, k)
			if n != w.conversions || rev != w.revenue || revenue != float64(w.revenue)/1e6 {
				d.errorf("%+v: %d conversions, revenue %d (%v); want %d, %d", k, n, rev, revenue, w.conversions, w.revenue)
			}
			return nil
		})
	for k := range want {
		d.errorf("missing row %+v", k)
	}
	d.done(got)
	return buckets
}

func TestTimeToConversion(t *testing.T) { checkTimeToConversion(t, loadedFixture(t)) }

func checkTimeToConversion(t *testing.T, f *fixture) {
	buckets := checkDistribution(t, f, "time_to_conversion", "days_to_conversion", f.expectTimeToConversion())
	if buckets[0] == 0 || len(buckets) < 3 {
		t.Errorf("days to conversion %v: the fixture should have same-day and multi-day journeys", buckets)
	}
}

func TestPathLength(t *testing.T) { checkPathLength(t, loadedFixture(t)) }

func checkPathLength(t *testing.T, f *fixture) {
	buckets := checkDistribution(t, f, "path_length", "touches", f.expectPathLength())
	if buckets[0] == 0 || buckets[1] == 0 || len(buckets) < 4 {
		t.Errorf("touches %v: the fixture should have unattributed conversions and paths of several lengths", buckets)
	}
}

func TestTopPaths(t *testing.T) { checkTopPaths(t, loadedFixture(t)) }

func checkTopPaths(t *testing.T, f *fixture) {
	want := f.expectTopPaths()
	d := &diffReporter{t: t, name: "top_paths"}
	got := 0
	long, none := "", uint64(0)
	f.query(t, `SELECT date, path, touches, conversions, revenue_micros, hours_to_conversion_sum, avg_hours_to_conversion FROM {db}.top_paths`,
		func(scan func(...any) error) error {
			var k tpKey
			var touches uint32
			var n uint64
			var rev int64
			var hours, avg float64
			if err := scan(&k.date, &k.path, &touches, &n, &rev, &hours, &avg); err != nil {
				return err
			}
			got++
			k.date = k.date.UTC()
			if touches >= 3 && long == "" {
				long = k.path
			}
			if k.path == schemas.ChannelNone && touches == 0 {
				none += n
			}
			w := want[k]
			if w == nil {
				d.errorf("unexpected row %+v", k)
				return nil
			}
			delete(want, k)
			if touches != w.touches || n != w.conversions || rev != w.revenue || !near(hours, w.hours) || !near(avg, w.hours/float64(w.conversions)) {
				d.errorf("%+v: touches %d conversions %d revenue %d hours %v avg %v; want %d %d %d %v", k, touches, n, rev, hours, avg,
					w.touches, w.conversions, w.revenue, w.hours)
			}
			return nil
		})
	for k := range want {
		d.errorf("missing row %+v", k)
	}
	d.done(got)
	if long == "" {
		t.Error("no path of 3 touches or more: the ordering of paths goes untested")
	}
	if none == 0 {
		t.Error("no '(none)' path: the walk-in conversions are missing")
	}
}

func TestCohortValue(t *testing.T) { checkCohortValue(t, loadedFixture(t)) }

func checkCohortValue(t *testing.T, f *fixture) {
	want := f.expectCohorts()
	d := &diffReporter{t: t, name: "cohort_value"}
	got := 0
	later := int64(0)
	f.query(t, `SELECT date, cohort_month, channel, month_offset, users, revenue_micros, cumulative_revenue_micros, cumulative_revenue_per_user FROM {db}.cohort_value`,
		func(scan func(...any) error) error {
			var date time.Time
			var k cohortKey
			var users uint64
			var rev, cum int64
			var perUser float64
			if err := scan(&date, &k.month, &k.channel, &k.offset, &users, &rev, &cum, &perUser); err != nil {
				return err
			}
			got++
			k.month = k.month.UTC()
			if !date.Equal(k.month) {
				d.errorf("%+v: date %s is not the cohort month", k, date)
			}
			if k.offset > 0 {
				later += rev
			}
			w := want[k]
			if w == nil {
				d.errorf("unexpected row %+v", k)
				return nil
			}
			delete(want, k)
			if users != w.users || rev != w.revenue || cum != w.cumulative || !near(perUser, float64(w.cumulative)/1e6/float64(w.users)) {
				d.errorf("%+v: users %d revenue %d cumulative %d per user %v; want %d %d %d", k, users, rev, cum, perUser, w.users, w.revenue, w.cumulative)
			}
			return nil
		})
	for k := range want {
		d.errorf("missing row %+v", k)
	}
	d.done(got)
	if later == 0 {
		t.Error("no revenue after a cohort's first month: the cumulation goes untested")
	}
}

// The views give the same answers whatever ClickHouse has merged of the raw
// tables: with one partition merged into one part and the other not (18.16
// then reads the partitions of a FINAL table differently, which once put
// the touchpoint costs of channel_performance into the wrong column of a
// UNION ALL), and with everything merged (duplicates gone). It runs last:
// the other tests see the unmerged duplicates.
func TestViewsAfterMerges(t *testing.T) {
	f := loadedFixture(t)
	checks := map[string]func(*testing.T, *fixture){
		"channel_performance": checkChannelPerformance, "channel_performance_feed_only": checkChannelPerformanceFeedOnly,
		"model_comparison": checkModelComparison, "assisted_conversions": checkAssistedConversions,
		"time_to_conversion": checkTimeToConversion, "path_length": checkPathLength, "top_paths": checkTopPaths, "cohort_value": checkCohortValue,
	}
	latest := trafficConfig.Start.Add(trafficConfig.Duration).Format("200601")
	for _, stage := range []struct{ name, partition string }{{"one_partition_merged", " PARTITION " + latest}, {"all_merged", ""}} {
		for _, table := range []string{"touchpoints", "conversions", "attributed_conversions", "ad_spend"} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := f.conn.Exec(ctx, "OPTIMIZE TABLE "+f.db+"."+table+stage.partition+" FINAL")
			cancel()
			if err != nil {
				t.Fatalf("optimize %s%s: %v", table, stage.partition, err)
			}
		}
		for name, check := range checks {
			t.Run(stage.name+"/"+name, func(t *testing.T) { check(t, f) })
		}
	}
}

// Reading one column of a view gives that column of the whole view: 18.16
// drops the columns a query does not need from the view's subqueries, which
// once shifted the touchpoint costs of channel_performance's UNION ALL into
// another column when spend_micros was read alone. Values compare to twelve
// significant digits: the days read live are aggregated on two cores
// (credited_live's halves), so a sum of float credits may add in another
// order from one query to the next and differ in its last digits.
func TestViewsColumnByColumn(t *testing.T) {
	checkColumnByColumn(t, loadedFixture(t), []string{"channel_performance", "model_comparison", "conversion_paths", "assisted_conversions",
		"time_to_conversion", "path_length", "top_paths", "cohort_value", "credited_daily", "channel_credits_daily", "reach_daily"})
}

func checkColumnByColumn(t *testing.T, f *fixture, views []string) {
	t.Helper()
	for _, view := range views {
		all := f.table(t, "SELECT * FROM "+f.db+"."+view)
		if len(all) == 0 {
			t.Errorf("%s: no rows", view)
			continue
		}
		for col := range all[0] {
			want := make([]string, len(all))
			for i, r := range all {
				want[i] = twelveDigits(r[col])
			}
			alone := f.table(t, "SELECT `"+col+"` FROM "+f.db+"."+view)
			got := make([]string, len(alone))
			for i, r := range alone {
				got[i] = twelveDigits(r[col])
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s.%s read alone differs from the column of SELECT *", view, col)
			}
		}
	}
}

// twelveDigits prints v, a number to twelve significant digits (0 below
// 1e-9: a difference of sums that cancel), anything else as it is.
func twelveDigits(v any) string {
	f, ok := v.(float64)
	if !ok {
		return fmt.Sprint(v)
	}
	if math.Abs(f) < 1e-9 {
		f = 0
	}
	return fmt.Sprintf("%.12g", f)
}
