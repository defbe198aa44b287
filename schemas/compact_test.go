package schemas

import (
	"reflect"
	"testing"
)

// Compact lays a conversion's credits out position-major, takes its path
// from the first model's rows and its value from their revenue; an
// unattributed conversion has no path and one entry per model; rows that
// do not form a complete set are refused.
func TestCompact(t *testing.T) {
	row := func(cid, model string, pos, plen int, tp, ch string, credit float64, micros int64) CreditedRow {
		return CreditedRow{ConversionID: cid, ConversionType: "purchase", UserKey: "u", Model: model, TouchpointID: tp, Channel: ch,
			Credit: credit, RevenueMicros: micros, Currency: "EUR", ConversionTimeMs: 1_700_000_000_000, Position: pos, PathLength: plen,
			Interaction: "click", TouchpointTimeMs: int64(pos)}
	}
	rows := []CreditedRow{
		row("a", "last_click", 1, 2, "t1", "email", 0, 0),
		row("a", "last_click", 2, 2, "t2", "paid_search", 1, 10),
		row("a", "linear", 1, 2, "t1", "email", 0.5, 5),
		row("a", "linear", 2, 2, "t2", "paid_search", 0.5, 5),
		row("b", "last_click", 0, 0, "", ChannelNone, 1, 7),
		row("b", "linear", 0, 0, "", ChannelNone, 1, 7),
	}
	rows[4].Interaction, rows[5].Interaction = "", ""
	got, err := Compact(rows, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d compact rows, want 2", len(got))
	}
	a, b := got[0], got[1]
	if a.Version != 3 || a.RevenueMicros != 10 || !reflect.DeepEqual(a.Channels, []string{"email", "paid_search"}) ||
		!reflect.DeepEqual(a.Models, []string{"last_click", "linear"}) ||
		!reflect.DeepEqual(a.Fractions, []float64{0, 0.5, 1, 0.5}) || !reflect.DeepEqual(a.Micros, []int64{0, 5, 10, 5}) {
		t.Errorf("conversion a: %+v", a)
	}
	if b.RevenueMicros != 7 || len(b.TouchpointIDs) != 0 || !reflect.DeepEqual(b.Micros, []int64{7, 7}) {
		t.Errorf("conversion b: %+v", b)
	}
	if v := a.Values(); len(v) != 20 || v[8] != uint32(2) {
		t.Errorf("Values: %d values, path_length %v", len(v), v[8])
	}
	if _, err := Compact(rows[:3], 1); err == nil {
		t.Error("a model missing a touchpoint's row was accepted")
	}
}
