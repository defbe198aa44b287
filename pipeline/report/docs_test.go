package report

import (
	"os"
	"regexp"
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
