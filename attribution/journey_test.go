package attribution_test

import (
	"slices"
	"testing"

	"github.com/attributor/attributor/attribution"
)

func TestJourneyAdd(t *testing.T) {
	var j attribution.Journey
	adds := []struct {
		tp   attribution.Touchpoint
		want bool
	}{
		{click("c", day, "email"), true},
		{click("a", 2*day, "display"), true},
		{click("b", day, "social"), true},         // ties with c: ordered by ID
		{click("c", 3*day, "paid_search"), false}, // an earlier copy: it replaces the held one
		{click("d", 0, "direct"), true},
		{imp("a", 0, "display"), false},    // a later copy: the held one stays
		{click("b", day, "direct"), false}, // a copy at the same time: the held one stays
	}
	for _, a := range adds {
		if got := j.Add(a.tp); got != a.want {
			t.Errorf("Add(%s at %d) = %v, want %v", a.tp.ID, a.tp.TimeMs, got, a.want)
		}
	}
	if got, want := pathIDs(j.Touchpoints()), []string{"c", "a", "b", "d"}; !slices.Equal(got, want) {
		t.Fatalf("order = %q, want %q", got, want)
	}
	if j.Len() != 4 {
		t.Errorf("Len = %d, want 4", j.Len())
	}
	if c := j.Touchpoints()[0]; c.Channel != "paid_search" || c.TimeMs != convMs-3*day {
		t.Errorf("c = %+v, want the earliest copy (paid_search, 3 days old)", c)
	}
	if a, b := j.Touchpoints()[1], j.Touchpoints()[2]; a.Impression || a.TimeMs != convMs-2*day || b.Channel != "social" {
		t.Errorf("a = %+v, b = %+v: want the copies held first (a click 2 days old, social)", a, b)
	}
}

func TestJourneyPrune(t *testing.T) {
	var j attribution.Journey
	for _, tp := range []attribution.Touchpoint{click("a", 3*day, ""), click("b", 2*day, ""), click("b2", 2*day, ""), click("c", day, "")} {
		j.Add(tp)
	}
	if n := j.Prune(convMs - 3*day); n != 0 {
		t.Errorf("Prune at the oldest = %d, want 0: a touchpoint at the bound stays", n)
	}
	if n := j.Prune(convMs - 2*day); n != 1 {
		t.Errorf("Prune = %d, want 1", n)
	}
	if got, want := pathIDs(j.Touchpoints()), []string{"b", "b2", "c"}; !slices.Equal(got, want) {
		t.Fatalf("after prune: %q, want %q", got, want)
	}
	// A pruned ID is forgotten: it can be added again.
	if !j.Add(click("a", 3*day, "")) {
		t.Error("Add of a pruned ID refused")
	}
	if n := j.Prune(convMs + 1); n != 4 || j.Len() != 0 {
		t.Errorf("Prune of everything = %d leaving %d, want 4 leaving 0", n, j.Len())
	}
	if n := j.Prune(convMs + 2); n != 0 {
		t.Errorf("Prune of an empty journey = %d", n)
	}
}
