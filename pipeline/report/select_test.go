package report

import (
	"strings"
	"testing"
)

func TestResultSelect(t *testing.T) {
	res := &Result{
		Columns: []Column{{Name: "channel", Kind: Text}, {Name: "a", Kind: Count}, {Name: "b", Kind: Count}},
		Rows:    [][]Value{{{S: "email"}, {I: 1}, {I: 2}}, {{S: "direct"}, {I: 3}, {I: 4}}},
	}
	if err := res.Select([]string{"b", "channel"}); err != nil {
		t.Fatal(err)
	}
	if len(res.Columns) != 2 || res.Columns[0].Name != "b" || res.Columns[1].Name != "channel" {
		t.Fatalf("columns %v, want b, channel", res.Columns)
	}
	if res.Rows[1][0].I != 4 || res.Rows[1][1].S != "direct" || len(res.Rows[0]) != 2 {
		t.Fatalf("rows %v: want the values of b and channel", res.Rows)
	}
	err := res.Select([]string{"nope"})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "b, channel") {
		t.Fatalf("Select(nope) = %v, want an error naming the column and listing the known ones", err)
	}
}
