package schemas

import (
	"reflect"
	"strings"
	"testing"
)

// CreditedColumns is CreditedRow, field for field: a field added to the
// row without a column (or the reverse) fails here, so replay's output and
// the sink's insert cannot drift from the row.
func TestCreditedColumnsMatchTheRow(t *testing.T) {
	rt := reflect.TypeOf(CreditedRow{})
	if rt.NumField() != len(CreditedColumns) {
		t.Fatalf("CreditedRow has %d fields, CreditedColumns %d", rt.NumField(), len(CreditedColumns))
	}
	seen := map[string]bool{}
	for i, c := range CreditedColumns {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if tag != "-" && tag != c.Output {
			t.Errorf("column %d: CreditedRow.%s is %q in JSON, CreditedColumns says %q", i, f.Name, tag, c.Output)
		}
		if c.Output == "" || c.Stored == "" || seen[c.Output] || seen["stored:"+c.Stored] {
			t.Errorf("column %d: %+v is empty or repeated", i, c)
		}
		seen[c.Output], seen["stored:"+c.Stored] = true, true
	}
}
