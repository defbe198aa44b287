package schemas

import (
	"strings"
	"testing"
)

// The lookup query is the view's unfolding with the id filter in its
// FINAL read, the id quoted whatever it holds.
func TestCreditedByIDSQL(t *testing.T) {
	q, err := CreditedByIDSQL("shop", `cv-1'; DROP TABLE x; \`)
	if err != nil {
		t.Fatal(err)
	}
	want := "        FROM shop.attributed_conversions FINAL\n" +
		"        WHERE conversion_id = 'cv-1\\'; DROP TABLE x; \\\\'\n" +
		"            AND conversion_date IN (SELECT conversion_date FROM shop.conversion_versions WHERE conversion_id = 'cv-1\\'; DROP TABLE x; \\\\')\n" +
		"    )\n    ARRAY JOIN"
	if !strings.Contains(q, want) {
		t.Errorf("the lookup query lacks\n%s\nin\n%s", want, q)
	}
	if !strings.HasPrefix(q, "SELECT\n    conversion_id,\n") || strings.Contains(q, "CREATE") {
		t.Errorf("not the view's SELECT:\n%.200s", q)
	}
	if _, err := CreditedByIDSQL("1bad", "x"); err == nil {
		t.Error("an invalid database name was accepted")
	}
}
