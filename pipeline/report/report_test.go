package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// Every report reads a view that `attributor migrate` creates, and orders
// by columns it has.
func TestRegistry(t *testing.T) {
	stmts, err := schemas.DDL("db")
	if err != nil {
		t.Fatal(err)
	}
	var ddl strings.Builder
	for _, s := range stmts {
		ddl.WriteString(s.SQL + "\n")
	}
	seen := map[string]bool{}
	for _, r := range Reports() {
		if seen[r.Name] {
			t.Errorf("report %s registered twice", r.Name)
		}
		seen[r.Name] = true
		if r.Summary == "" || len(r.Columns) == 0 {
			t.Errorf("report %s: no summary or no columns", r.Name)
		}
		if !strings.Contains(ddl.String(), "CREATE VIEW IF NOT EXISTS db."+r.view()+" AS") {
			t.Errorf("report %s: migrate creates no view %s", r.Name, r.view())
		}
		var f Filter
		if r.ByID {
			f.ID = "an-id"
		}
		if _, _, err := r.Query("db", f); err != nil {
			t.Errorf("report %s: %v", r.Name, err)
		}
		names := map[string]bool{}
		for _, c := range r.Columns {
			if names[c.Name] {
				t.Errorf("report %s: column %s twice", r.Name, c.Name)
			}
			names[c.Name] = true
		}
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "channel_performance") {
		t.Errorf("Lookup(nope) = %v, want an error listing the reports", err)
	}
}

// Filter values reach ClickHouse only as arguments bound to placeholders.
func TestQueryBindsFilters(t *testing.T) {
	r, err := Lookup("channel_performance")
	if err != nil {
		t.Fatal(err)
	}
	hostile := "x' OR 1=1 --"
	sql, args, err := r.Query("attribution", Filter{From: "2026-11-01", To: "2026-11-30", Model: "linear", Channel: hostile, Limit: 7919})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"2026-11-01", "2026-11-30", "linear", hostile, 7919}
	if len(args) != len(want) || strings.Count(sql, "?") != len(want) {
		t.Fatalf("args %v for %d placeholders, want %v:\n%s", args, strings.Count(sql, "?"), want, sql)
	}
	for i := range want {
		if args[i] != want[i] {
			t.Errorf("arg %d = %v, want %v", i, args[i], want[i])
		}
	}
	for _, v := range []string{"2026-11", "linear", "OR 1=1", "7919"} {
		if strings.Contains(sql, v) {
			t.Errorf("the SQL text holds the filter value %q:\n%s", v, sql)
		}
	}
	for _, frag := range []string{"FROM attribution.channel_performance", "date >= toDate(?) AND date <= toDate(?) AND model = ? AND channel = ?", "LIMIT ?"} {
		if !strings.Contains(sql, frag) {
			t.Errorf("SQL lacks %q:\n%s", frag, sql)
		}
	}

	cohort, _ := Lookup("cohort_value")
	sql, _, _ = cohort.Query("attribution", Filter{From: "2026-11-15"})
	if !strings.Contains(sql, "date >= toStartOfMonth(toDate(?))") {
		t.Errorf("cohort_value filters by month:\n%s", sql)
	}
	// The id of report conversion too, bound where the days and the rows
	// are looked up.
	cv, _ := Lookup("conversion")
	sql, args, err = cv.Query("attribution", Filter{ID: hostile, Model: "linear"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{hostile, hostile, "linear"}; !slices.Equal(args, want) || strings.Count(sql, "?") != len(want) || strings.Contains(sql, "OR 1=1") {
		t.Errorf("report conversion: args %v for %d placeholders, want %v:\n%s", args, strings.Count(sql, "?"), want, sql)
	}
	top, _ := Lookup("top_paths")
	if _, args, _ := top.Query("attribution", Filter{}); len(args) != 1 || args[0] != 20 {
		t.Errorf("top_paths default limit: args %v, want [20]", args)
	}
	if _, _, err := r.Query("attribution; DROP TABLE x", Filter{}); err == nil {
		t.Error("an invalid database name was accepted")
	}
}

func TestFilterValidate(t *testing.T) {
	cp, _ := Lookup("channel_performance")
	mc, _ := Lookup("model_comparison")
	tp, _ := Lookup("top_paths")
	cv, _ := Lookup("conversion")
	for _, c := range []struct {
		r     *Report
		f     Filter
		field string
	}{
		{cp, Filter{From: "2026-13-01"}, "from:"},
		{cp, Filter{To: "yesterday"}, "to:"},
		{cp, Filter{From: "1999-12-31"}, "from:"},
		{cp, Filter{From: "2026-11-02", To: "2026-11-01"}, "to: 2026-11-01 is before"},
		{cp, Filter{Model: "u_shaped"}, "model: unknown model"},
		{mc, Filter{Model: "linear"}, "model: report model_comparison has no model column"},
		{tp, Filter{Channel: "email"}, "channel: report top_paths has no channel column"},
		{cp, Filter{Limit: -1}, "limit:"},
		{cv, Filter{}, "id: report conversion shows one conversion"},
		{cv, Filter{ID: "x", From: "2026-11-01"}, "from, to:"},
		{cv, Filter{ID: "x", To: "2026-11-01"}, "from, to:"},
		{tp, Filter{ID: "x"}, "id: report top_paths sums many conversions"},
	} {
		err := c.f.Validate(c.r)
		if err == nil || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("%s %+v: %v, want an error starting %q", c.r.Name, c.f, err, c.field)
		}
	}
	if err := (Filter{From: "2026-11-01", To: "2026-11-01", Model: "linear", Channel: "email", Limit: 3}).Validate(cp); err != nil {
		t.Errorf("a valid filter: %v", err)
	}
	if err := (Filter{ID: "x", Model: "linear", Channel: "email"}).Validate(cv); err != nil {
		t.Errorf("a valid filter of report conversion: %v", err)
	}
}

func sampleResult() *Result {
	tenth := 0.1
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	return &Result{
		Columns: []Column{{Name: "channel", Kind: Text}, {Name: "day", Kind: Date}, {Name: "clicks", Kind: Count},
			{Name: "conversions", Kind: Number}, {Name: "revenue", Kind: Money}, {Name: "ctr", Kind: Percent}, {Name: "hours", Kind: Hours}},
		Rows: [][]Value{
			{{S: "paid_search"}, {T: day}, {I: 1234567}, {F: 12.345}, {F: 98765.4321}, {F: 0.123456}, {F: 1.25}},
			{{S: "(none)"}, {T: day}, {I: 0}, {F: 1}, {F: -1234.5}, {Null: true}, {F: 0}},
			{{S: `say "hi", bye`}, {T: day}, {I: 7}, {F: -0.001}, {F: tenth + 0.2}, {F: 2}, {F: 1000.04}},
		},
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().Write(&b, Table); err != nil {
		t.Fatal(err)
	}
	want := `channel        day            clicks  conversions    revenue      ctr    hours
-------------  ----------  ---------  -----------  ---------  -------  -------
paid_search    2026-11-27  1,234,567        12.35  98,765.43   12.35%      1.2
(none)         2026-11-27          0         1.00  -1,234.50        -      0.0
say "hi", bye  2026-11-27          7         0.00       0.30  200.00%  1,000.0
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	(&Result{Columns: sampleResult().Columns}).WriteTable(&b)
	if !strings.HasSuffix(b.String(), "(no rows)\n") {
		t.Errorf("empty table:\n%s", b.String())
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().Write(&b, CSV); err != nil {
		t.Fatal(err)
	}
	want := `channel,day,clicks,conversions,revenue,ctr,hours
paid_search,2026-11-27,1234567,12.345,98765.4321,0.123456,1.25
(none),2026-11-27,0,1,-1234.5,,0
"say ""hi"", bye",2026-11-27,7,-0.001,0.30000000000000004,2,1000.04
`
	if b.String() != want {
		t.Errorf("csv:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().Write(&b, JSON); err != nil {
		t.Fatal(err)
	}
	want := `[
  {"channel": "paid_search", "day": "2026-11-27", "clicks": 1234567, "conversions": 12.345, "revenue": 98765.4321, "ctr": 0.123456, "hours": 1.25},
  {"channel": "(none)", "day": "2026-11-27", "clicks": 0, "conversions": 1, "revenue": -1234.5, "ctr": null, "hours": 0},
  {"channel": "say \"hi\", bye", "day": "2026-11-27", "clicks": 7, "conversions": -0.001, "revenue": 0.30000000000000004, "ctr": 2, "hours": 1000.04}
]
`
	if b.String() != want {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	(&Result{Columns: sampleResult().Columns}).WriteJSON(&b)
	if b.String() != "[]\n" {
		t.Errorf("empty json: %q", b.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"table", "csv", "json"} {
		if f, err := ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}

// channel_performance is one model (linear unless --model) per channel by
// default; --by campaign splits the channels, --model all shows every model.
func TestChannelPerformanceShape(t *testing.T) {
	r, _ := Lookup("channel_performance")
	for _, c := range []struct {
		f             Filter
		group, absent string
		args          []any
	}{
		{Filter{}, "GROUP BY model, channel\n", "campaign", []any{"linear"}},
		{Filter{By: "channel", Model: "first_click"}, "GROUP BY model, channel\n", "campaign", []any{"first_click"}},
		{Filter{By: "campaign"}, "GROUP BY model, channel, campaign\n", "", []any{"linear"}},
		{Filter{Model: AllModels}, "GROUP BY model, channel\n", "model = ?", nil},
	} {
		sql, args, err := r.Query("db", c.f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sql, c.group) || c.absent != "" && strings.Contains(sql, c.absent) || len(args) != len(c.args) || len(args) > 0 && args[0] != c.args[0] {
			t.Errorf("%+v: args %v, want %v, %q and no %q:\n%s", c.f, args, c.args, c.group, c.absent, sql)
		}
	}
	if err := (Filter{By: "day"}).Validate(r); err == nil || !strings.HasPrefix(err.Error(), "by: report channel_performance groups by channel or campaign") {
		t.Errorf("--by day: %v", err)
	}
	tp, _ := Lookup("top_paths")
	if err := (Filter{By: "campaign"}).Validate(tp); err == nil || !strings.HasPrefix(err.Error(), "by:") {
		t.Errorf("top_paths --by campaign: %v", err)
	}
	full := func(r *Report, f Filter) *Result {
		res := &Result{Columns: r.columns(f), Rows: [][]Value{make([]Value, len(r.columns(f)))}}
		return res
	}
	names := func(res *Result) string {
		var out []string
		for _, c := range res.Columns {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		f       Filter
		columns []string
		want    string
	}{
		{Filter{}, nil, "channel,clicks,ctr,conversions,revenue,spend,cpa,roas"},
		{Filter{By: "campaign"}, nil, "channel,campaign,clicks,ctr,conversions,revenue,spend,cpa,roas"},
		{Filter{Model: AllModels}, nil, "model,channel,clicks,ctr,conversions,revenue,spend,cpa,roas"},
		{Filter{}, []string{"channel", "impressions"}, "channel,impressions"},
		{Filter{}, []string{"all"}, "model,channel,impressions,clicks,ctr,users_reached,converting_users,conversion_rate,conversions,revenue,spend,spend_source,cpa,roas"},
	} {
		res := full(r, c.f)
		if err := res.Shape(r, c.f, c.columns); err != nil || names(res) != c.want {
			t.Errorf("%+v --columns %v: %s, %v; want %s", c.f, c.columns, names(res), err, c.want)
		}
	}
	mc, _ := Lookup("model_comparison")
	res := full(mc, Filter{})
	if err := res.Shape(mc, Filter{}, nil); err != nil || names(res) != "channel,"+strings.Join(attribution.ModelNames, ",") {
		t.Errorf("model_comparison default: %s, %v", names(res), err)
	}
	// Columns follow the models present: linear and markov credited, the
	// others not run.
	res = full(mc, Filter{})
	for j, c := range res.Columns {
		if c.Name == "linear_conversions" || c.Name == "markov_conversions" {
			res.Rows[0][j].F = 1
		}
	}
	if err := res.Shape(mc, Filter{}, nil); err != nil || names(res) != "channel,linear,markov" {
		t.Errorf("model_comparison default with linear and markov: %s, %v", names(res), err)
	}
}
