package sessionize

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/attributor/attributor/attribution"
)

// The compact journey must behave exactly like attribution.Journey, which
// replay uses: same dedup (first seen wins), same order, same pruning.
func TestJourneyMatchesAttributionJourney(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	ids := func() string {
		switch rng.IntN(4) {
		case 0: // canonical UUID, held as 16 bytes
			return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Uint64()&(1<<48-1))
		case 1: // uppercase UUID: not canonical, held as text
			return fmt.Sprintf("%08X-%04X-%04X-%04X-%012X", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Uint64()&(1<<48-1))
		case 2:
			return fmt.Sprintf("tp-%d", rng.IntN(50))
		}
		return fmt.Sprintf("%d", rng.IntN(30))
	}
	channels := []string{"paid_search", "email", "direct", "display"}
	for round := 0; round < 300; round++ {
		var ref attribution.Journey
		var got journey // the zero journey: empty, empty key
		key := ""
		if round%2 == 1 {
			key = fmt.Sprintf("user-%d", round)
			got = newJourney(key)
		}
		dims := newDimTable()
		var seen []attribution.Touchpoint
		for op := 0; op < 60; op++ {
			switch {
			case rng.IntN(12) == 0:
				before := int64(rng.IntN(200))
				if a, b := ref.Prune(before), got.prune(before); a != b {
					t.Fatalf("round %d: prune(%d) dropped %d, want %d", round, before, b, a)
				}
			case len(seen) > 0 && rng.IntN(5) == 0: // a duplicate id, maybe with other fields
				tp := seen[rng.IntN(len(seen))]
				tp.TimeMs = int64(rng.IntN(200))
				_, added := got.add(&tp, dims)
				if want := ref.Add(tp); added != want {
					t.Fatalf("round %d: add duplicate %q = %v, want %v", round, tp.ID, added, want)
				}
			default:
				tp := attribution.Touchpoint{
					ID: ids(), TimeMs: int64(rng.IntN(200)), Impression: rng.IntN(3) == 0,
					Channel: channels[rng.IntN(len(channels))], Source: "s", Medium: "m", Campaign: fmt.Sprint("c", rng.IntN(3)),
				}
				seen = append(seen, tp)
				i, added := got.add(&tp, dims)
				if want := ref.Add(tp); added != want {
					t.Fatalf("round %d: add %q = %v, want %v", round, tp.ID, added, want)
				}
				if added && got.id(i) != tp.ID {
					t.Fatalf("round %d: add returned index %d holding %q, want %q", round, i, got.id(i), tp.ID)
				}
			}
			if string(got.key()) != key {
				t.Fatalf("round %d op %d: key %q, want %q", round, op, got.key(), key)
			}
			want := ref.Touchpoints()
			have := got.all(dims)
			if len(want) == 0 && len(have) == 0 {
				continue
			}
			if !reflect.DeepEqual(have, want) {
				t.Fatalf("round %d op %d: journeys differ\n got %v\nwant %v", round, op, have, want)
			}
			from, to := int64(rng.IntN(200)), int64(rng.IntN(200))
			n := 0
			for _, tp := range want {
				if tp.TimeMs >= from && tp.TimeMs <= to {
					n++
				}
			}
			if c := got.count(from, to); c != n {
				t.Fatalf("round %d: count(%d, %d) = %d, want %d", round, from, to, c, n)
			}
		}
	}
}

// Ids in every form the encoding treats apart, at the same time so that
// only the id orders them: each case adds ids in the order given and must
// hold them in attribution.Journey's order, each exactly once, with the key
// intact, and again after the oldest are pruned.
func TestJourneyEncodingEdges(t *testing.T) {
	const lower = "0b3a3b61-7d11-48d0-a64e-d274020b57af"
	upper := strings.ToUpper(lower)
	long := strings.Repeat("x", 70_000) // longer than any uint16 length
	cases := []struct {
		name, key string
		ids       []string
	}{
		{"uuid and its uppercase twin are two ids", "u1", []string{lower, upper, lower, upper}},
		{"uuid against texts sharing its prefix", "u2", []string{lower, lower[:35], lower + "0", "0b3a3b61", "0b3a3b61-7d11-48d0-a64e-d274020b57ag"}},
		{"uuids differing in the last byte", "u3", []string{"00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"}},
		{"empty and long ids", "", []string{long, "", "a", long + "y", ""}},
		{"long key", strings.Repeat("k", 600), []string{"b", lower, "a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dims := newDimTable()
			var ref attribution.Journey
			j := newJourney(c.key)
			for k, id := range c.ids {
				for _, ms := range []int64{100, 50} { // same time ties, and an earlier copy
					tp := attribution.Touchpoint{ID: id, TimeMs: ms + int64(k%2), Channel: fmt.Sprint("c", k)}
					_, added := j.add(&tp, dims)
					if want := ref.Add(tp); added != want {
						t.Fatalf("add %.40q at %d = %v, want %v", id, tp.TimeMs, added, want)
					}
				}
			}
			check := func(when string) {
				t.Helper()
				if string(j.key()) != c.key {
					t.Fatalf("%s: key %.40q, want %.40q", when, j.key(), c.key)
				}
				have, want := j.all(dims), ref.Touchpoints()
				if len(want) == 0 && len(have) == 0 {
					return
				}
				if !reflect.DeepEqual(have, want) {
					t.Fatalf("%s: journeys differ\n got %.200v\nwant %.200v", when, have, want)
				}
			}
			check("after adds")
			if a, b := ref.Prune(101), j.prune(101); a != b {
				t.Fatalf("prune dropped %d, want %d", b, a)
			}
			check("after prune")
			for _, id := range c.ids { // pruned ids are forgotten, kept ones still dedup
				tp := attribution.Touchpoint{ID: id, TimeMs: 101}
				_, added := j.add(&tp, dims)
				if want := ref.Add(tp); added != want {
					t.Fatalf("add %.40q after prune = %v, want %v", id, added, want)
				}
			}
			check("after adds following the prune")
		})
	}
}

func TestJourneySessionStart(t *testing.T) {
	var j journey
	dims := newDimTable()
	for _, ms := range []int64{0, 10, 25, 100, 105} {
		j.add(&attribution.Touchpoint{ID: fmt.Sprint(ms), TimeMs: ms}, dims)
	}
	for i, want := range []int64{0, 0, 0, 100, 100} {
		if got := j.sessionStart(i, 20); got != want {
			t.Errorf("sessionStart(%d) = %d, want %d", i, got, want)
		}
	}
}

func TestUUIDRoundTrip(t *testing.T) {
	var buf [16]byte
	for _, id := range []string{"0b3a3b61-7d11-48d0-a64e-d274020b57af", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"} {
		if ok := parseUUID(id, &buf); !ok || string(appendUUID(nil, buf[:])) != id {
			t.Errorf("parseUUID(%q) = %x, %v; round trip %q", id, buf, ok, appendUUID(nil, buf[:]))
		}
	}
	for _, id := range []string{"0B3A3B61-7D11-48D0-A64E-D274020B57AF", "0b3a3b61-7d11-48d0-a64e-d274020b57a", "0b3a3b61x7d11-48d0-a64e-d274020b57af", "tp-1", "0b3a3b61-7d11-48d0-a64e-d274020b57ag"} {
		if parseUUID(id, &buf) {
			t.Errorf("parseUUID(%q) = true; want false: it is held as its text", id)
		}
	}
}

// parseUUID accepts exactly the canonical lowercase UUIDs: every byte of
// a UUID replaced, in turn, by every byte value gives what a plain check,
// digit by digit, says.
func TestParseUUIDEveryByte(t *testing.T) {
	canonical := func(id string) ([16]byte, bool) {
		var buf [16]byte
		if len(id) != 36 {
			return buf, false
		}
		n := 0
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if id[i] != '-' {
					return buf, false
				}
				continue
			}
			v := strings.IndexByte("0123456789abcdef", id[i])
			if v < 0 {
				return buf, false
			}
			buf[n/2] |= byte(v) << (4 * (1 - n%2))
			n++
		}
		return buf, true
	}
	for _, base := range []string{"0b3a3b61-7d11-48d0-a64e-d274020b57af", "f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f"} {
		for i := range len(base) {
			for c := range 256 {
				id := base[:i] + string([]byte{byte(c)}) + base[i+1:]
				want, wantOK := canonical(id)
				var got [16]byte
				ok := parseUUID(id, &got)
				if ok != wantOK || ok && got != want {
					t.Fatalf("parseUUID(%q) = %x, %v; want %x, %v", id, got, ok, want, wantOK)
				}
			}
		}
	}
}

// Of a touchpoint's copies the earliest wins, the one held on a tie,
// whatever order they are added in: an earlier copy replaces the held one
// (fields and all) at its own place in time order, text ids after it keep
// theirs, and the journey still deduplicates the id afterwards.
func TestJourneyEarliestCopyWins(t *testing.T) {
	uuid := "0a1b2c3d-0000-4000-8000-00000000abcd"
	for _, id := range []string{"tp-x", uuid} {
		dims := newDimTable()
		tp := func(id string, ms int64, ch string) attribution.Touchpoint {
			return attribution.Touchpoint{ID: id, TimeMs: ms, Channel: ch}
		}
		var ref attribution.Journey
		j := newJourney("k")
		steps := []struct {
			tp     attribution.Touchpoint
			st     int
			fromMs int64
		}{
			{tp("a-before", 10, "email"), putNew, 0},
			{tp(id, 50, "later"), putNew, 0},
			{tp("z-after", 60, "email"), putNew, 0},
			{tp(id, 70, "latest"), putDup, 0},         // later: the held copy stays
			{tp(id, 50, "tie"), putDup, 0},            // a tie: the held copy stays
			{tp(id, 5, "earlier"), putMoved, 50},      // earlier: replaces it, first now
			{tp(id, 50, "later"), putDup, 0},          // the replaced copy again: a duplicate
			{tp("m-between", 30, "email"), putNew, 0}, // text ids after the move still read right
		}
		for k, s := range steps {
			i, st, from := j.put(&s.tp, dims)
			added := ref.Add(s.tp)
			if st != s.st || from != s.fromMs || added != (st == putNew) {
				t.Fatalf("%s step %d: put(%s at %d) = %d from %d, want %d from %d (attribution.Journey added %v)", id, k, s.tp.ID, s.tp.TimeMs, st, from, s.st, s.fromMs, added)
			}
			if st != putDup && j.id(i) != s.tp.ID {
				t.Fatalf("%s step %d: index %d holds %q, want %q", id, k, i, j.id(i), s.tp.ID)
			}
			if got, want := j.all(dims), ref.Touchpoints(); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s step %d: journey\n got %v\nwant %v", id, k, got, want)
			}
		}
		got := j.all(dims)
		if len(got) != 4 || got[0].ID != id || got[0].TimeMs != 5 || got[0].Channel != "earlier" {
			t.Errorf("%s: journey %v, want the earliest copy first", id, got)
		}
	}
}

// Whatever order the copies of the same touchpoints arrive in, the journey
// ends the same: the earliest copy of each id, the first added on ties.
func TestJourneyCopiesInAnyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for round := range 200 {
		var tps []attribution.Touchpoint
		for i := range 2 + rng.IntN(30) {
			tps = append(tps, attribution.Touchpoint{ID: fmt.Sprint("t", rng.IntN(12)), TimeMs: int64(rng.IntN(100)), Channel: fmt.Sprint("c", i)})
		}
		// The expected copy of each id: the earliest, the first on a tie.
		want := map[string]attribution.Touchpoint{}
		for _, tp := range tps {
			if w, ok := want[tp.ID]; !ok || tp.TimeMs < w.TimeMs {
				want[tp.ID] = tp
			}
		}
		dims := newDimTable()
		j := newJourney("k")
		var ref attribution.Journey
		for _, tp := range tps {
			j.add(&tp, dims)
			ref.Add(tp)
		}
		got := j.all(dims)
		if !reflect.DeepEqual(got, ref.Touchpoints()) || len(got) != len(want) {
			t.Fatalf("round %d: journey %v\nattribution.Journey %v", round, got, ref.Touchpoints())
		}
		for _, tp := range got {
			w := want[tp.ID]
			if tp.TimeMs != w.TimeMs || tp.Channel != w.Channel {
				t.Fatalf("round %d: holds %+v, want %+v", round, tp, w)
			}
		}
	}
}
