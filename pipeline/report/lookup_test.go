package report

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// docLookupID is the conversion docs/ANALYSTS.md reads by id ("One
// conversion by id"), one of the fixture's.
const docLookupID = "00043239-9296-42d9-82f1-8826c552c378"

// The lookup by id (schemas.CreditedByIDSQL) shows exactly a conversion's
// rows of credited_conversions: for conversions of every path length
// (0: the unattributed rows), re-attributed ones (superseded versions
// stored beside the current one) and an id that does not exist.
func TestCreditedByIDEqualsView(t *testing.T) {
	f := loadedFixture(t)
	ids := lookupIDs(t, f)
	text := func(rows []map[string]any) []string {
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprint(r))
		}
		slices.Sort(out)
		return out
	}
	for _, id := range ids {
		q, err := schemas.CreditedByIDSQL(f.db, id)
		if err != nil {
			t.Fatal(err)
		}
		got := text(f.table(t, q))
		want := text(f.table(t, "SELECT * FROM "+f.db+".credited_conversions WHERE conversion_id = '"+id+"'"))
		if (len(want) == 0) != (id == "no-such-conversion") {
			t.Errorf("%s: %d rows in credited_conversions", id, len(want))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the lookup shows %d rows, credited_conversions %d:\n got %v\nwant %v", id, len(got), len(want), got, want)
		}
	}
}

// lookupIDs returns conversions to look up by id: one of every path length
// (0: the unattributed rows), re-attributed ones (superseded versions
// stored beside the current one), the one docs/ANALYSTS.md reads and an id
// that does not exist.
func lookupIDs(t *testing.T, f *fixture) []string {
	t.Helper()
	var ids []string
	for _, q := range []string{
		"SELECT any(conversion_id) AS id FROM " + f.db + ".attributed_conversions FINAL GROUP BY path_length",
		"SELECT conversion_id AS id FROM " + f.db + ".attributed_conversions GROUP BY conversion_id HAVING uniqExact(version) > 1 ORDER BY conversion_id LIMIT 5",
	} {
		for _, r := range f.table(t, q) {
			ids = append(ids, r["id"].(string))
		}
	}
	if len(ids) < 5 {
		t.Fatalf("%d conversions to look up: the fixture lacks path lengths or re-attributions", len(ids))
	}
	return append(ids, docLookupID, "no-such-conversion")
}

// docs/ANALYSTS.md shows the lookup by id as CreditedByIDSQL writes it, so
// that the documented query is the tested one (TestAnalystDocsExamples
// runs it on 18.16, TestCurrentClickHouse on a current release).
func TestAnalystDocsShowCreditedByID(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ANALYSTS.md")
	if err != nil {
		t.Fatal(err)
	}
	q, err := schemas.CreditedByIDSQL("attribution", docLookupID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```sql\n"+q+"\n```") {
		t.Errorf("docs/ANALYSTS.md lacks the lookup by id as schemas.CreditedByIDSQL(\"attribution\", %q) writes it:\n%s", docLookupID, q)
	}
}

// Report conversion prints exactly a conversion's rows of
// credited_conversions, model by model in position order, for a conversion
// of every path length, re-attributed ones and an id that does not exist,
// and --model and --channel narrow them as a WHERE on the view would.
func TestConversionReportEqualsView(t *testing.T) {
	f := loadedFixture(t)
	rows := 0
	for _, id := range lookupIDs(t, f) {
		for _, flt := range []Filter{{ID: id}, {ID: id, Model: "time_decay"}, {ID: id, Channel: "email"}} {
			res := runReport(t, f, "conversion", flt)
			var got []string
			for _, row := range res.Rows {
				got = append(got, fmt.Sprintf("%s %d %s %s %s %s %s %s %.9f %.6f %s %s %d %d %s", res.cell(row, "model").S, res.cell(row, "position").I,
					res.cell(row, "touchpoint_id").S, res.cell(row, "channel").S, res.cell(row, "source").S, res.cell(row, "medium").S,
					res.cell(row, "campaign").S, res.cell(row, "interaction").S, res.cell(row, "credit").F, res.cell(row, "revenue").F,
					res.cell(row, "currency").S, res.cell(row, "conversion_type").S, res.cell(row, "path_length").I, res.cell(row, "version").I,
					res.cell(row, "fit_id").S))
			}
			where := "conversion_id = '" + id + "'"
			if flt.Model != "" {
				where += " AND model = '" + flt.Model + "'"
			}
			if flt.Channel != "" {
				where += " AND channel = '" + flt.Channel + "'"
			}
			var want []string
			for _, r := range f.table(t, "SELECT * FROM "+f.db+".credited_conversions WHERE "+where+" ORDER BY model, position") {
				n := func(c string) int64 { return int64(r[c].(float64)) } // plain makes every number a float64
				want = append(want, fmt.Sprintf("%s %d %s %s %s %s %s %s %.9f %.6f %s %s %d %d %s", r["model"], n("position"),
					r["touchpoint_id"], r["channel"], r["source"], r["medium"], r["campaign"], r["interaction"], r["credit"],
					float64(n("revenue_micros"))/1e6, r["currency"], r["conversion_type"], n("path_length"), n("version"), r["fit_id"]))
			}
			if !slices.Equal(got, want) {
				t.Errorf("report conversion %+v: %d rows, credited_conversions %d:\n got %v\nwant %v", flt, len(got), len(want), got, want)
			}
			rows += len(got)
		}
	}
	if rows == 0 {
		t.Error("no rows compared")
	}
}
