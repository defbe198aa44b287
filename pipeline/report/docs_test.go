package report

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every SQL example of docs/ANALYSTS.md runs, and answers, on the fixture.
func TestAnalystDocsExamples(t *testing.T) {
	f := loadedFixture(t)
	doc, err := os.ReadFile("../../docs/ANALYSTS.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 8 {
		t.Fatalf("%d SQL examples in docs/ANALYSTS.md; want one per question at least", len(blocks))
	}
	for _, b := range blocks {
		sql := strings.ReplaceAll(b[1], "attribution.", f.db+".")
		if rows := f.table(t, sql); len(rows) == 0 {
			t.Errorf("no rows:\n%s", b[1])
		}
	}
}

// The demo's "query it yourself" SQL prints exact figures: revenue to the
// micro it is kept in (a sum of the float column revenue prints
// 116232.4599999999) and conversions rounded to hundredths.
func TestDemoQueryIsExact(t *testing.T) {
	f := loadedFixture(t)
	script, err := os.ReadFile("../../scripts/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)clickhouse-client -q "(.*?)"`).FindStringSubmatch(string(script))
	if m == nil {
		t.Fatal("no clickhouse-client query in scripts/demo.sh")
	}
	rows := f.table(t, strings.ReplaceAll(m[1], "attribution.", f.db+"."))
	if len(rows) == 0 {
		t.Fatalf("no rows:\n%s", m[1])
	}
	for _, r := range rows {
		for col, decimals := range map[string]int{"conversions": 2, "revenue": 6} {
			v, ok := r[col].(float64)
			s := strconv.FormatFloat(v, 'f', -1, 64)
			if _, frac, _ := strings.Cut(s, "."); !ok || len(frac) > decimals {
				t.Errorf("%s prints %s (%T), want at most %d decimals: %v", col, s, r[col], decimals, r)
			}
		}
	}
}
