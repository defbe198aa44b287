package sessionize

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkUsers fails unless t holds exactly the users of want (key to the
// partition stored in them), found by get and yielded once each by all.
func checkUsers(tb testing.TB, t *userTable, want map[string]int32) {
	tb.Helper()
	if t.len() != len(want) {
		tb.Fatalf("len() = %d, want %d", t.len(), len(want))
	}
	for key, p := range want {
		u := t.get(key)
		if u == nil {
			tb.Fatalf("get(%q) = nil, want its user", key)
		}
		if string(u.journey.key()) != key || u.partition != p {
			tb.Fatalf("get(%q) = user %q of partition %d, want partition %d", key, u.journey.key(), u.partition, p)
		}
	}
	seen := map[string]bool{}
	for _, u := range t.all() {
		key := string(u.journey.key())
		if _, ok := want[key]; !ok || seen[key] {
			tb.Fatalf("all() yields %q: not held, or twice", key)
		}
		seen[key] = true
	}
	if len(seen) != len(want) {
		tb.Fatalf("all() yields %d users, want %d", len(seen), len(want))
	}
}

// The table behaves as a map through growth, deletion and reuse of places.
func TestUserTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var tab userTable
	if tab.get("nobody") != nil || tab.len() != 0 {
		t.Fatal("the zero table is not empty")
	}
	want := map[string]int32{}
	for op := range 20_000 {
		key := fmt.Sprintf("user-%d", rng.IntN(3000))
		switch rng.IntN(3) {
		case 0, 1:
			u, added := tab.getOrAdd(key)
			_, held := want[key]
			if added == held {
				t.Fatalf("op %d: getOrAdd(%q) added = %v, but held = %v", op, key, added, held)
			}
			if added {
				u.partition = int32(op)
				want[key] = int32(op)
			}
		case 2: // delete what all yields, as the sweep does
			n := rng.IntN(5)
			for place, u := range tab.all() {
				if n == 0 {
					break
				}
				if rng.IntN(50) == 0 {
					delete(want, string(u.journey.key()))
					tab.delete(place)
					n--
				}
			}
		}
		if op%500 == 0 {
			checkUsers(t, &tab, want)
		}
	}
	checkUsers(t, &tab, want)
}

// Keys whose hashes share a home slot, or neighbour it across the end of the
// slots, form one run of probes: deleting any of them must keep the others
// reachable (backward-shift deletion).
func TestUserTableCollisions(t *testing.T) {
	for _, homes := range [][]int{{5}, {62, 63, 0}} {
		t.Run(fmt.Sprint(homes), func(t *testing.T) {
			var tab userTable
			tab.getOrAdd("seed") // sets the seed and the 64 initial slots
			want := map[string]int32{"seed": 0}
			for i := 0; len(want) < 40; i++ {
				key := fmt.Sprint("k", i)
				h := int(tab.hash(key)) & (len(tab.slots) - 1)
				for _, home := range homes {
					if h == home {
						u, _ := tab.getOrAdd(key)
						u.partition = int32(i)
						want[key] = int32(i)
					}
				}
			}
			if len(tab.slots) != 64 {
				t.Fatalf("the table grew to %d slots; the test needs the colliding keys in 64", len(tab.slots))
			}
			checkUsers(t, &tab, want)
			rng := rand.New(rand.NewPCG(uint64(homes[0]), 1))
			for len(want) > 0 {
				var places []uint32
				for place := range tab.all() {
					places = append(places, place)
				}
				place := places[rng.IntN(len(places))]
				delete(want, string(tab.at(place).journey.key()))
				tab.delete(place)
				checkUsers(t, &tab, want)
			}
		})
	}
}

// The stored set is keyed by keyHash of the key's text; the sweep computes
// it from the bytes a journey holds.
func TestKeyHashBytes(t *testing.T) {
	for _, key := range []string{"", "u0000001", "anon-0123456789ab", string(make([]byte, 600))} {
		j := newJourney(key)
		if a, b := keyHashBytes(j.key()), KeyHash(key); a != b {
			t.Errorf("keyHashBytes(%q) = %x, keyHash = %x", key, a, b)
		}
	}
}
