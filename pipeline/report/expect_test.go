package report

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/attributor/attributor/schemas"
)

// The expected figures of the views, computed in Go from the fixture's
// events, replay's credited rows and the spend fed: the definitions of
// schemas/clickhouse/02*_*.sql written out a second time.

// convPath is one conversion with its path, from the credited rows of one
// model (every model has a row per touchpoint).
type convPath struct {
	id, user        string
	date            time.Time
	convMs, firstMs int64
	revenue         int64
	channels        []string // by position; ["(none)"] without a path
	touches         int
}

func (p *convPath) path() string { return strings.Join(p.channels, " > ") }

// paths returns the conversions of the credited rows with their paths.
func paths(credited []schemas.CreditedRow) []*convPath {
	model := ""
	for _, r := range credited {
		if model == "" || r.Model < model {
			model = r.Model
		}
	}
	byID := map[string][]schemas.CreditedRow{}
	for _, r := range credited {
		if r.Model == model {
			byID[r.ConversionID] = append(byID[r.ConversionID], r)
		}
	}
	out := make([]*convPath, 0, len(byID))
	for id, rows := range byID {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Position < rows[j].Position })
		p := &convPath{id: id, user: rows[0].UserKey, date: dayOf(rows[0].ConversionTimeMs), convMs: rows[0].ConversionTimeMs, touches: rows[0].PathLength}
		for _, r := range rows {
			p.revenue += r.RevenueMicros
			p.channels = append(p.channels, r.Channel)
		}
		if p.touches > 0 {
			p.firstMs = rows[0].TouchpointTimeMs
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func models(credited []schemas.CreditedRow) []string {
	set := map[string]bool{}
	for _, r := range credited {
		set[r.Model] = true
	}
	var out []string
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// costMicros is a touchpoint's cost rounded to micros as the view rounds it.
func costMicros(c float64) int64 { return int64(math.Floor(c*1e6 + 0.5)) }

type cpKey struct {
	date                     time.Time
	model, channel, campaign string
}

type cpWant struct {
	impressions, clicks  uint64
	reached, converting  map[string]bool
	conversions          float64
	revenue              int64
	touchpointCost, feed int64
	hasFeed              bool
}

func (w *cpWant) spend() int64 {
	if w.hasFeed {
		return w.feed
	}
	return w.touchpointCost
}

// expectChannelPerformance computes channel_performance.
func (f *fixture) expectChannelPerformance() map[cpKey]*cpWant {
	out := map[cpKey]*cpWant{}
	get := func(k cpKey) *cpWant {
		w := out[k]
		if w == nil {
			w = &cpWant{reached: map[string]bool{}, converting: map[string]bool{}}
			out[k] = w
		}
		return w
	}
	for _, r := range f.credited {
		w := get(cpKey{dayOf(r.ConversionTimeMs), r.Model, r.Channel, r.Campaign})
		w.conversions += r.Credit
		w.revenue += r.RevenueMicros
		if r.Credit > 0 {
			w.converting[r.UserKey] = true
		}
	}
	for _, m := range models(f.credited) {
		for _, t := range f.touchpoints {
			w := get(cpKey{dayOf(t.TimeMs), m, t.Channel, t.Campaign})
			if t.Interaction == schemas.InteractionImpression {
				w.impressions++
			} else {
				w.clicks++
			}
			w.reached[t.Key()] = true
			w.touchpointCost += costMicros(t.Cost)
		}
		for _, s := range f.spend {
			w := get(cpKey{s.Date, m, s.Channel, s.Campaign})
			w.feed += s.CostMicros
			w.hasFeed = true
		}
	}
	return out
}

type mcKey struct {
	date    time.Time
	channel string
}

type mcWant struct {
	conversions map[string]float64
	revenue     map[string]int64
}

func (f *fixture) expectModelComparison() map[mcKey]*mcWant {
	out := map[mcKey]*mcWant{}
	for _, r := range f.credited {
		k := mcKey{dayOf(r.ConversionTimeMs), r.Channel}
		w := out[k]
		if w == nil {
			w = &mcWant{conversions: map[string]float64{}, revenue: map[string]int64{}}
			out[k] = w
		}
		w.conversions[r.Model] += r.Credit
		w.revenue[r.Model] += r.RevenueMicros
	}
	return out
}

type acWant struct {
	assisted, closed               uint64
	assistedRevenue, closedRevenue int64
}

func (f *fixture) expectAssisted() map[mcKey]*acWant {
	out := map[mcKey]*acWant{}
	for _, p := range paths(f.credited) {
		if p.touches == 0 {
			continue
		}
		assists, closes := map[string]bool{}, map[string]bool{}
		for i, ch := range p.channels {
			if i == len(p.channels)-1 {
				closes[ch] = true
			} else {
				assists[ch] = true
			}
		}
		get := func(ch string) *acWant {
			k := mcKey{p.date, ch}
			if out[k] == nil {
				out[k] = &acWant{}
			}
			return out[k]
		}
		for ch := range assists {
			w := get(ch)
			w.assisted++
			w.assistedRevenue += p.revenue
		}
		for ch := range closes {
			w := get(ch)
			w.closed++
			w.closedRevenue += p.revenue
		}
	}
	return out
}

type distKey struct {
	date    time.Time
	channel string
	bucket  int64
}

type distWant struct {
	conversions uint64
	revenue     int64
}

// expectTimeToConversion buckets the conversions with a path by full days
// from first touch, under their first channel and 'all'.
func (f *fixture) expectTimeToConversion() map[distKey]*distWant {
	out := map[distKey]*distWant{}
	for _, p := range paths(f.credited) {
		if p.touches == 0 {
			continue
		}
		for _, ch := range []string{p.channels[0], "all"} {
			k := distKey{p.date, ch, (p.convMs - p.firstMs) / 86_400_000}
			if out[k] == nil {
				out[k] = &distWant{}
			}
			out[k].conversions++
			out[k].revenue += p.revenue
		}
	}
	return out
}

// expectPathLength buckets every conversion by its touches.
func (f *fixture) expectPathLength() map[distKey]*distWant {
	out := map[distKey]*distWant{}
	for _, p := range paths(f.credited) {
		for _, ch := range []string{p.channels[0], "all"} {
			k := distKey{p.date, ch, int64(p.touches)}
			if out[k] == nil {
				out[k] = &distWant{}
			}
			out[k].conversions++
			out[k].revenue += p.revenue
		}
	}
	return out
}

type tpKey struct {
	date time.Time
	path string
}

type tpWant struct {
	touches     uint32
	conversions uint64
	revenue     int64
	hours       float64
}

func (f *fixture) expectTopPaths() map[tpKey]*tpWant {
	out := map[tpKey]*tpWant{}
	for _, p := range paths(f.credited) {
		k := tpKey{p.date, p.path()}
		w := out[k]
		if w == nil {
			w = &tpWant{touches: uint32(p.touches)}
			out[k] = w
		}
		w.conversions++
		w.revenue += p.revenue
		if p.touches > 0 {
			w.hours += float64(p.convMs-p.firstMs) / 3_600_000
		}
	}
	return out
}

type cohortKey struct {
	month   time.Time
	channel string
	offset  uint64
}

type cohortWant struct {
	users               uint64
	revenue, cumulative int64
}

func monthOf(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }

func monthsBetween(from, to time.Time) int64 {
	return int64(to.Year()*12+int(to.Month())) - int64(from.Year()*12+int(from.Month()))
}

// expectCohorts groups users by the month and channel of their first touch
// and adds their revenue up month by month, to the last month with data.
func (f *fixture) expectCohorts() map[cohortKey]*cohortWant {
	type first struct {
		ms     int64
		id, ch string
	}
	firsts := map[string]first{}
	end := time.Time{}
	for _, t := range f.touchpoints {
		cur, ok := firsts[t.Key()]
		if !ok || t.TimeMs < cur.ms || t.TimeMs == cur.ms && t.EventID < cur.id {
			firsts[t.Key()] = first{t.TimeMs, t.EventID, t.Channel}
		}
		if d := dayOf(t.TimeMs); d.After(end) {
			end = d
		}
	}
	for _, c := range f.conversions {
		if d := dayOf(c.TimeMs); d.After(end) {
			end = d
		}
	}
	type cohort struct {
		month time.Time
		ch    string
	}
	users := map[cohort]uint64{}
	for _, fi := range firsts {
		users[cohort{monthOf(dayOf(fi.ms)), fi.ch}]++
	}
	revenue := map[cohortKey]int64{}
	for _, p := range paths(f.credited) {
		fi, ok := firsts[p.user]
		if !ok {
			continue
		}
		c := cohort{monthOf(dayOf(fi.ms)), fi.ch}
		off := monthsBetween(c.month, p.date)
		if off < 0 {
			continue
		}
		revenue[cohortKey{c.month, c.ch, uint64(off)}] += p.revenue
	}
	out := map[cohortKey]*cohortWant{}
	for c, n := range users {
		var cum int64
		for off := int64(0); off <= monthsBetween(c.month, end); off++ {
			k := cohortKey{c.month, c.ch, uint64(off)}
			cum += revenue[k]
			out[k] = &cohortWant{users: n, revenue: revenue[k], cumulative: cum}
		}
	}
	return out
}

// near reports whether two floats agree to 1e-9 relative (absolute below 1).
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// nearPtr compares a nullable float with want, where ok=false means NULL.
func nearPtr(got *float64, want float64, ok bool) bool {
	if !ok {
		return got == nil
	}
	return got != nil && near(*got, want)
}
