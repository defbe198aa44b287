package stitch

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/attributor/attributor/schemas"
)

func link(anon, user, id string, ms int64) schemas.Link {
	return schemas.Link{AnonymousID: anon, UserID: user, EventID: id, TimeMs: ms}
}

func TestAdd(t *testing.T) {
	type step struct {
		l        schemas.Link
		outcome  Outcome
		from, to string
		conflict bool
	}
	for _, tc := range []struct {
		name      string
		steps     []step
		keys      map[string]string // anonymous_id → stitched key of its anonymous events
		conflicts int
	}{
		{"a login links the device", []step{
			{link("a1", "u1", "id-1", 100), Linked, "a1", "u1", false},
		}, map[string]string{"a1": "u1", "a2": "a2"}, 0},
		{"a later link to the same user changes nothing", []step{
			{link("a1", "u1", "id-1", 100), Linked, "a1", "u1", false},
			{link("a1", "u1", "id-2", 200), Ignored, "u1", "u1", false},
			{link("a1", "u1", "id-1", 100), Ignored, "u1", "u1", false},
		}, map[string]string{"a1": "u1"}, 0},
		{"a shared device: the later user is a conflict", []step{
			{link("a1", "u1", "id-1", 100), Linked, "a1", "u1", false},
			{link("a1", "u2", "id-2", 200), Conflict, "u1", "u1", true},
			{link("a1", "u2", "id-3", 300), Conflict, "u1", "u1", false},
			{link("a1", "u3", "id-4", 300), Conflict, "u1", "u1", true},
		}, map[string]string{"a1": "u1"}, 2},
		{"an earlier link arriving late takes over", []step{
			{link("a1", "u2", "id-2", 200), Linked, "a1", "u2", false},
			{link("a1", "u1", "id-1", 100), Relinked, "u2", "u1", true},
		}, map[string]string{"a1": "u1"}, 1},
		{"the taking-over user stops being a conflict", []step{
			{link("a1", "u1", "id-1", 100), Linked, "a1", "u1", false},
			{link("a1", "u2", "id-3", 300), Conflict, "u1", "u1", true},
			{link("a1", "u2", "id-0", 50), Relinked, "u1", "u2", true},
		}, map[string]string{"a1": "u2"}, 1},
		{"an earlier link to the same user", []step{
			{link("a1", "u1", "id-2", 200), Linked, "a1", "u1", false},
			{link("a1", "u1", "id-1", 100), Earlier, "u1", "u1", false},
			{link("a1", "u2", "id-3", 150), Conflict, "u1", "u1", true}, // before 200, after 100
		}, map[string]string{"a1": "u1"}, 1},
		{"same time: the smaller event_id wins", []step{
			{link("a1", "u1", "id-b", 100), Linked, "a1", "u1", false},
			{link("a1", "u2", "id-a", 100), Relinked, "u1", "u2", true},
		}, map[string]string{"a1": "u2"}, 1},
		{"an incomplete link is ignored", []step{
			{link("a1", "", "id-1", 100), Ignored, "", "", false},
			{link("", "u1", "id-1", 100), Ignored, "", "", false},
		}, map[string]string{"a1": "a1"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := NewTable()
			for i, s := range tc.steps {
				c := tab.Add(s.l)
				if c.Outcome != s.outcome || c.From != s.from || c.To != s.to || c.NewConflict != s.conflict {
					t.Errorf("step %d %+v: got %v %q→%q conflict %v, want %v %q→%q conflict %v",
						i, s.l, c.Outcome, c.From, c.To, c.NewConflict, s.outcome, s.from, s.to, s.conflict)
				}
				if c.Moved() != (s.from != s.to) {
					t.Errorf("step %d: Moved %v", i, c.Moved())
				}
			}
			for anon, want := range tc.keys {
				if got := tab.Key("", anon); got != want {
					t.Errorf("Key(\"\", %q) = %q, want %q", anon, got, want)
				}
				if got := tab.Key("own", anon); got != "own" {
					t.Errorf("an event's own user_id loses to the link: %q", got)
				}
			}
			if tab.Conflicts() != tc.conflicts {
				t.Errorf("conflicts = %d, want %d", tab.Conflicts(), tc.conflicts)
			}
		})
	}
}

func TestNilTableStitchesNothing(t *testing.T) {
	var tab *Table
	if tab.Key("u1", "a1") != "u1" || tab.Key("", "a1") != "a1" || tab.Len() != 0 || tab.Conflicts() != 0 {
		t.Error("a nil table must leave keys as they are")
	}
	for range tab.Links() {
		t.Error("a nil table has links")
	}
}

// state is what a table decides: each anonymous_id's user and event, and
// its conflicts.
type state struct {
	links     map[string]string
	conflicts map[string][]string
	n         int
}

func snapshot(tab *Table) state {
	s := state{links: map[string]string{}, conflicts: map[string][]string{}, n: tab.Conflicts()}
	for l := range tab.Links() {
		s.links[l.AnonymousID] = fmt.Sprintf("%s@%d/%s", l.UserID, l.TimeMs, l.EventID)
		if cs := tab.ConflictsOf(l.AnonymousID); len(cs) > 0 {
			s.conflicts[l.AnonymousID] = slices.Clone(cs)
		}
	}
	return s
}

// expected is the table's decision computed by definition: per anonymous
// id, the minimum over all its links, and every other user a conflict.
func expected(links []schemas.Link) state {
	s := state{links: map[string]string{}, conflicts: map[string][]string{}}
	best := map[string]schemas.Link{}
	for _, l := range links {
		b, ok := best[l.AnonymousID]
		if !ok || l.TimeMs < b.TimeMs || l.TimeMs == b.TimeMs && (l.EventID < b.EventID || l.EventID == b.EventID && l.UserID < b.UserID) {
			best[l.AnonymousID] = l
		}
	}
	others := map[string]map[string]bool{}
	for _, l := range links {
		if l.UserID != best[l.AnonymousID].UserID {
			if others[l.AnonymousID] == nil {
				others[l.AnonymousID] = map[string]bool{}
			}
			others[l.AnonymousID][l.UserID] = true
		}
	}
	for anon, b := range best {
		s.links[anon] = fmt.Sprintf("%s@%d/%s", b.UserID, b.TimeMs, b.EventID)
	}
	for anon, us := range others {
		s.conflicts[anon] = slices.Sorted(maps.Keys(us))
		s.n += len(us)
	}
	return s
}

func randomLinks(r *rand.Rand) []schemas.Link {
	n := 1 + r.IntN(60)
	anons, users := 1+r.IntN(8), 1+r.IntN(5)
	var out []schemas.Link
	for range n {
		l := link(fmt.Sprintf("a%d", r.IntN(anons)), fmt.Sprintf("u%d", r.IntN(users)), fmt.Sprintf("e%d", r.IntN(20)), int64(r.IntN(10)))
		out = append(out, l)
		if r.IntN(5) == 0 { // a re-sent copy
			out = append(out, l)
		}
	}
	return out
}

// Property: whatever the arrival order, the table ends with the links and
// conflicts the definition gives; and the moves Add reports, applied in
// order to every device's key, end at the device's final key.
func TestOrderIndependence(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	for trial := range 2000 {
		links := randomLinks(r)
		want := expected(links)
		for shuffle := range 5 {
			order := slices.Clone(links)
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			tab := NewTable()
			keys := map[string]string{} // the key of each device's anonymous events, as the moves say
			for _, l := range order {
				c := tab.Add(l)
				if c.Outcome == Ignored {
					continue
				}
				cur, ok := keys[l.AnonymousID]
				if !ok {
					cur = l.AnonymousID
				}
				if c.From != cur {
					t.Fatalf("trial %d/%d: %+v moves from %q, the key was %q", trial, shuffle, l, c.From, cur)
				}
				keys[l.AnonymousID] = c.To
			}
			got := snapshot(tab)
			if !maps.Equal(got.links, want.links) || got.n != want.n || !maps.EqualFunc(got.conflicts, want.conflicts, slices.Equal) {
				t.Fatalf("trial %d/%d, links %v:\ngot  %+v\nwant %+v", trial, shuffle, order, got, want)
			}
			for anon, k := range keys {
				if tab.Key("", anon) != k {
					t.Fatalf("trial %d/%d: the moves end %s at %q, Key says %q", trial, shuffle, anon, k, tab.Key("", anon))
				}
			}
		}
	}
}

// The memory a link takes, for sizing the stream's tables (reported, not
// asserted): go test -run '^$' -bench Memory ./stitch
func BenchmarkMemoryPerLink(b *testing.B) {
	const n = 200_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tab := NewTable()
		for i := range n {
			tab.Add(link(fmt.Sprintf("anon-%012x", i*7919), fmt.Sprintf("u%07d", i/2), fmt.Sprintf("%08x-5b1a-4c55-9a51-3c1d2f0e9b11", i), 1795771200000+int64(i)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/link")
		runtime.KeepAlive(tab)
	}
}

func BenchmarkAddAndKey(b *testing.B) {
	tab := NewTable()
	links := make([]schemas.Link, 1<<16)
	for i := range links {
		links[i] = link(fmt.Sprintf("anon-%012x", i%20000), fmt.Sprintf("u%07d", i%15000), fmt.Sprintf("e%d", i), int64(i%5000))
	}
	b.ResetTimer()
	for i := range b.N {
		l := links[i&(1<<16-1)]
		tab.Add(l)
		_ = tab.Key("", l.AnonymousID)
	}
}
