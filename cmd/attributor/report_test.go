package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/report"
	"github.com/attributor/attributor/schemas"
)

func TestReportCommandList(t *testing.T) {
	code, stdout, stderr := runSubcommand("report")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, r := range report.Reports() {
		if !strings.Contains(stdout, "  "+r.Name+" ") || !strings.Contains(stdout, r.Summary) {
			t.Errorf("the list lacks %s:\n%s", r.Name, stdout)
		}
	}
}

func TestReportCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "roi"}, `unknown report "roi"`},
		{[]string{"report", "top_paths", "channel_performance"}, "one report at a time"},
		{[]string{"report", "channel_performance", "--from", "2026-02-30"}, "from: date: must be YYYY-MM-DD"},
		{[]string{"report", "channel_performance", "--from", "2026-11-02", "--to", "2026-11-01"}, "is before from"},
		{[]string{"report", "model_comparison", "--model", "linear"}, "has no model column"},
		{[]string{"report", "channel_performance", "--model", "w_shaped"}, `unknown model "w_shaped"`},
		{[]string{"report", "top_paths", "--channel", "email"}, "has no channel column"},
		{[]string{"report", "top_paths", "--format", "xml"}, "format: must be table, csv or json"},
		{[]string{"report", "top_paths", "--limit", "-1"}, "limit: must be >= 0"},
		{[]string{"report", "top_paths", "--database", "a;b"}, "not a valid identifier"},
		{[]string{"report", "conversion"}, "id: report conversion shows one conversion: give its id (--id)"},
		{[]string{"report", "conversion", "--id", "c1", "--from", "2026-11-01"}, "--from and --to do not apply"},
		{[]string{"report", "top_paths", "--id", "c1"}, "only a report of one conversion takes --id"},
	} {
		code, _, stderr := runSubcommand(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// credit is a credited row of the hand-made data of the report tests.
type credit struct {
	conv, user, model, tp, channel, campaign string
	credit                                   float64
	revenue                                  int64
	tpMs, convMs                             int64
	position, length                         uint32
}

// loadCredits writes a two-touch conversion (paid_social, then paid_search;
// 100.00) and a conversion without a touchpoint (20.00), credited under
// every model, and the two touchpoints with their costs.
func loadCredits(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	conv := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	social := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).UnixMilli()
	search := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).UnixMilli()
	shares := map[string][2]float64{ // model -> credit of (paid_social, paid_search)
		"last_click": {0, 1}, "first_click": {1, 0}, "linear": {0.5, 0.5},
		"time_decay": {0.25, 0.75}, "position_based": {0.5, 0.5}, "last_non_direct": {0, 1},
	}
	var rows []credit
	for _, m := range attribution.ModelNames {
		s := shares[m]
		rows = append(rows,
			credit{"c1", "u1", m, "t1", "paid_social", "prospecting", s[0], int64(s[0] * 100e6), social, conv, 1, 2},
			credit{"c1", "u1", m, "t2", "paid_search", "brand", s[1], int64(s[1] * 100e6), search, conv, 2, 2})
	}
	for _, m := range attribution.ModelNames {
		rows = append(rows, credit{"c2", "u2", m, "", "(none)", "", 1, 20e6, 0, conv + 3600_000, 0, 0})
	}
	var credited []schemas.CreditedRow
	for _, r := range rows {
		credited = append(credited, schemas.CreditedRow{ConversionID: r.conv, ConversionType: "purchase", UserKey: r.user, Model: r.model,
			TouchpointID: r.tp, Channel: r.channel, Campaign: r.campaign, Credit: r.credit, RevenueMicros: r.revenue, Currency: "EUR",
			TouchpointTimeMs: r.tpMs, ConversionTimeMs: r.convMs, Position: int(r.position), PathLength: int(r.length)})
	}
	ctx := context.Background()
	insertCompact(t, conn, db, credited)
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel, campaign, cost)")
	if err != nil {
		t.Fatal(err)
	}
	batch.Append("t1", "u1", social, time.UnixMilli(social).UTC(), "click", "paid_social", "prospecting", 1.5)
	batch.Append("t2", "u1", search, time.UnixMilli(search).UTC(), "click", "paid_search", "brand", 2.25)
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

func TestReportCommandClickHouse(t *testing.T) {
	addr, conn := testClickHouse(t)
	db := migratedDatabase(t, addr, conn)
	loadCredits(t, conn, db)
	svc := []string{"--clickhouse", addr, "--database", db}

	// The default view: credited conversions per channel, a column per
	// model named for it.
	code, stdout, stderr := runSubcommand(append([]string{"report", "model_comparison"}, svc...)...)
	want := `channel      last_click  first_click  linear  time_decay  position_based  last_non_direct
-----------  ----------  -----------  ------  ----------  --------------  ---------------
paid_search        1.00         0.00    0.50        0.75            0.50             1.00
(none)             1.00         1.00    1.00        1.00            1.00             1.00
paid_social        0.00         1.00    0.50        0.25            0.50             0.00
`
	if code != 0 || stdout != want {
		t.Errorf("model_comparison: exit %d: %s\n%s\nwant:\n%s", code, stderr, stdout, want)
	}

	code, stdout, stderr = runSubcommand(append([]string{"report", "model_comparison", "--columns", "all"}, svc...)...)
	if code != 0 {
		t.Fatalf("model_comparison: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "channel      last_click_conversions  last_click_revenue") ||
		!strings.HasPrefix(lines[2], "paid_search                    1.00              100.00") ||
		!strings.HasPrefix(lines[3], "(none)                         1.00               20.00") ||
		!strings.HasPrefix(lines[4], "paid_social                    0.00                0.00                     1.00               100.00") {
		t.Errorf("model_comparison table:\n%s", stdout)
	}

	code, stdout, stderr = runSubcommand(append([]string{"report", "--format", "csv", "model_comparison", "--columns", "all", "--from", "2026-11-02", "--to", "2026-11-02"}, svc...)...)
	if code != 0 || !strings.Contains(stdout, "\npaid_social,0,0,1,100,0.5,50,0.25,25,0.5,50,0,0,0,0,0,0,1,100,0.5,50,0.25,25,0.5,50,0,0,0,0,0,0\n") {
		t.Errorf("model_comparison csv: exit %d: %s\n%s", code, stderr, stdout)
	}
	code, stdout, _ = runSubcommand(append([]string{"report", "model_comparison", "--format", "csv", "--to", "2026-11-01"}, svc...)...)
	if code != 0 || strings.Count(stdout, "\n") != 1 {
		t.Errorf("model_comparison before the conversions: exit %d, want the header alone:\n%s", code, stdout)
	}

	// Spend and credit meet in channel_performance: paid_search's click
	// cost 2.25 and earned, under last click, 100.00 of revenue.
	code, stdout, stderr = runSubcommand(append([]string{"report", "channel_performance", "--model", "last_click", "--channel", "paid_search", "--by", "campaign", "--columns", "all", "--format", "json"}, svc...)...)
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || len(got) != 1 {
		t.Fatalf("channel_performance json: exit %d, %v: %s\n%s", code, err, stderr, stdout)
	}
	wantJSON := map[string]any{"model": "last_click", "channel": "paid_search", "campaign": "brand", "clicks": 1.0, "ctr": nil,
		"conversions": 1.0, "revenue": 100.0, "spend": 2.25, "spend_source": "touchpoint_cost", "cpa": 2.25, "roas": 100 / 2.25}
	for k, v := range wantJSON {
		if got[0][k] != v {
			t.Errorf("channel_performance %s = %v, want %v", k, got[0][k], v)
		}
	}

	code, stdout, _ = runSubcommand(append([]string{"report", "top_paths", "--format", "csv"}, svc...)...)
	if code != 0 || !strings.Contains(stdout, "\npaid_social > paid_search,2,1,100,25\n") || !strings.Contains(stdout, "\n(none),0,1,20,0\n") {
		t.Errorf("top_paths csv: exit %d:\n%s", code, stdout)
	}

	// One conversion's rows, by id: each model's share of c1's 100.00.
	code, stdout, stderr = runSubcommand(append([]string{"report", "conversion", "--id", "c1", "--model", "linear"}, svc...)...)
	want = `model   position  touchpoint_time      channel      campaign     interaction  credit  revenue
------  --------  -------------------  -----------  -----------  -----------  ------  -------
linear         1  2026-11-01 09:00:00  paid_social  prospecting                 0.50    50.00
linear         2  2026-11-02 09:00:00  paid_search  brand                       0.50    50.00
`
	if code != 0 || stdout != want {
		t.Errorf("conversion c1: exit %d: %s\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	code, stdout, stderr = runSubcommand(append([]string{"report", "conversion", "--id", "c2", "--format", "csv", "--columns", "model,position,touchpoint_id,channel,credit,revenue,currency,path_length,version"}, svc...)...)
	if code != 0 || strings.Count(stdout, "\n") != 1+len(attribution.ModelNames) || !strings.Contains(stdout, "\nlinear,0,,(none),1,20,EUR,0,1\n") {
		t.Errorf("conversion c2 (no touchpoint): exit %d: %s\n%s", code, stderr, stdout)
	}
	code, stdout, stderr = runSubcommand(append([]string{"report", "conversion", "--id", "no-such", "--format", "csv"}, svc...)...)
	if code != 0 || strings.Count(stdout, "\n") != 1 {
		t.Errorf("an unknown conversion: exit %d, want the header alone: %s\n%s", code, stderr, stdout)
	}

	code, _, stderr = runSubcommand("report", "top_paths", "--clickhouse", addr, "--database", db+"_missing")
	if code != 1 || !strings.Contains(stderr, "attributor migrate --database "+db+"_missing") {
		t.Errorf("missing database: exit %d: %s", code, stderr)
	}
}

// insertCompact writes credited rows (grouped by conversion, each model's
// in position order) as the compact rows of attributed_conversions, as
// version 1.
func insertCompact(t *testing.T, conn driver.Conn, db string, rows []schemas.CreditedRow) {
	t.Helper()
	compact, err := schemas.Compact(rows, 1)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".attributed_conversions ("+schemas.CompactColumns+")")
	if err != nil {
		t.Fatal(err)
	}
	for i := range compact {
		if err := batch.Append(compact[i].Values()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

// insertCredited writes credited rows of conversion conv (100.00 split as
// given) and its touchpoints, each (channel, campaign, interaction, cost).
func insertCredited(t *testing.T, conn driver.Conn, db, conv string, convMs int64, tps []touch) {
	t.Helper()
	ctx := context.Background()
	var credited []schemas.CreditedRow
	for _, m := range attribution.ModelNames {
		for i, tp := range tps {
			share := 1 / float64(len(tps))
			credited = append(credited, schemas.CreditedRow{ConversionID: conv, ConversionType: "purchase", UserKey: "u-" + conv, Model: m,
				TouchpointID: conv + tp.id, Channel: tp.channel, Campaign: tp.campaign, Credit: share, RevenueMicros: int64(share * 100e6), Currency: "EUR",
				TouchpointTimeMs: convMs - int64(len(tps)-i)*60_000, ConversionTimeMs: convMs, Position: i + 1, PathLength: len(tps)})
		}
	}
	insertCompact(t, conn, db, credited)
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel, campaign, cost)")
	if err != nil {
		t.Fatal(err)
	}
	for i, tp := range tps {
		ms := convMs - int64(len(tps)-i)*60_000
		batch.Append(conv+tp.id, "u-"+conv, ms, time.UnixMilli(ms).UTC(), tp.interaction, tp.channel, tp.campaign, tp.cost)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

type touch struct {
	id, channel, campaign, interaction string
	cost                               float64
}

// The reports an analyst reads: default views fit 100 columns, CPA and ROAS
// blank on a spend below a cent, ratios as ratios, and text from events
// that can neither drive the terminal nor forge a row or a formula.
func TestReportCommandReadsRight(t *testing.T) {
	addr, conn := testClickHouse(t)
	db := migratedDatabase(t, addr, conn)
	loadCredits(t, conn, db)
	conv := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC).UnixMilli()
	escSeq := "\x1b]0;pwned\a\x1b[2J\x1b[Hx"
	forged := "brand\nemail  99.00  1,000,000.00"
	formula := "=HYPERLINK(\"http://evil.example\",\"x\")"
	insertCredited(t, conn, db, "c3", conv, []touch{{"a", "display", "retargeting", "impression", 0.004}, {"b", "display", "retargeting", "click", 0.002}})
	insertCredited(t, conn, db, "c4", conv, []touch{{"a", "email", escSeq, "click", 0}, {"b", "email", forged, "click", 0}, {"c", "email", formula, "click", 0}})
	svc := []string{"--clickhouse", addr, "--database", db}

	code, stdout, stderr := runSubcommand(append([]string{"report", "channel_performance"}, svc...)...)
	if code != 0 {
		t.Fatalf("channel_performance: exit %d: %s", code, stderr)
	}
	want := `channel      clicks      ctr  conversions  revenue  spend   cpa   roas
-----------  ------  -------  -----------  -------  -----  ----  -----
display           1  100.00%         1.00   100.00   0.01     -      -
email             3        -         1.00   100.00   0.00     -      -
paid_search       1        -         0.50    50.00   2.25  4.50  22.22
paid_social       1        -         0.50    50.00   1.50  3.00  33.33
(none)            0        -         1.00    20.00   0.00     -      -
`
	if stdout != want {
		t.Errorf("channel_performance (linear, per channel; display's spend 0.006 is below a cent):\n%s\nwant:\n%s", stdout, want)
	}
	// assist_ratio is assists per close: display assisted 1 and closed 1.
	code, stdout, _ = runSubcommand(append([]string{"report", "assisted_conversions", "--channel", "display", "--columns", "channel,assist_ratio"}, svc...)...)
	if code != 0 || !strings.HasSuffix(stdout, "\ndisplay          1.00\n") {
		t.Errorf("assist_ratio: exit %d:\n%s", code, stdout)
	}
	for _, args := range [][]string{{"model_comparison"}, {"channel_performance"}, {"channel_performance", "--model", "last_non_direct"}, {"assisted_conversions"}} {
		code, stdout, _ := runSubcommand(append(append([]string{"report"}, args...), svc...)...)
		for _, l := range strings.Split(stdout, "\n") {
			if code != 0 || len([]rune(l)) > 100 {
				t.Errorf("report %v: exit %d, a line of %d columns:\n%s", args, code, len([]rune(l)), stdout)
				break
			}
		}
	}
}

func TestReportCommandCannotBeForged(t *testing.T) {
	addr, conn := testClickHouse(t)
	db := migratedDatabase(t, addr, conn)
	conv := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC).UnixMilli()
	escSeq := "\x1b]0;pwned\a\x1b[2J\x1b[Hx"
	forged := "brand\nemail  99.00  1,000,000.00"
	formula := "=HYPERLINK(\"http://evil.example\",\"x\")"
	insertCredited(t, conn, db, "c4", conv, []touch{{"a", "email", escSeq, "click", 0}, {"b", "email", forged, "click", 0}, {"c", "email", formula, "click", 0}})
	args := []string{"report", "channel_performance", "--by", "campaign", "--columns", "campaign,clicks,conversions", "--clickhouse", addr, "--database", db}

	code, stdout, stderr := runSubcommand(args...)
	want := `campaign                               clicks  conversions
-------------------------------------  ------  -----------
\x1b]0;pwned\x07\x1b[2J\x1b[Hx              1         0.33
=HYPERLINK("http://evil.example","x")       1         0.33
brand\nemail  99.00  1,000,000.00           1         0.33
`
	if code != 0 || stdout != want {
		t.Errorf("table: exit %d: %s\n%q\nwant:\n%q", code, stderr, stdout, want)
	}

	code, stdout, stderr = runSubcommand(append(args, "--format", "csv")...)
	want = `campaign,clicks,conversions
\x1b]0;pwned\x07\x1b[2J\x1b[Hx,1,0.3333333333333333
"'=HYPERLINK(""http://evil.example"",""x"")",1,0.3333333333333333
"brand\nemail  99.00  1,000,000.00",1,0.3333333333333333
`
	if code != 0 || stdout != want {
		t.Errorf("csv: exit %d: %s\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	code, stdout, _ = runSubcommand(append(args, "--format", "csv", "--csv-formulas")...)
	if code != 0 || !strings.Contains(stdout, "\n\"=HYPERLINK(") {
		t.Errorf("csv --csv-formulas: exit %d, want the formula as it is:\n%s", code, stdout)
	}
}
