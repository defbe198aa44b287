package sessionize

import (
	"fmt"
	"math/rand/v2"
	"runtime"
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
		if op%2500 == 2499 { // a mass eviction, then shrink, as the sweep does
			for place, u := range tab.all() {
				if rng.IntN(20) != 0 {
					delete(want, string(u.journey.key()))
					tab.delete(place)
				}
			}
			tab.shrink()
			checkUsers(t, &tab, want)
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

// After most users are deleted, even one in every tenth chunk, shrink packs
// the rest into as few chunks as hold them, releases the others and
// shrinks the index; the table keeps working through reuse.
func TestUserTableShrinksAfterEviction(t *testing.T) {
	var ut userTable
	const n = 100 * userChunk
	want := map[string]int32{}
	for i := range n {
		key := fmt.Sprintf("u%d", i)
		u, _ := ut.getOrAdd(key)
		u.partition = int32(i % 7)
		if i%(10*userChunk) == 0 { // one user in every tenth chunk survives
			want[key] = u.partition
		}
	}
	chunks, slots := ut.chunkCount(), len(ut.slots)
	for place, u := range ut.all() {
		if _, ok := want[string(u.journey.key())]; !ok {
			ut.delete(place)
		}
	}
	ut.shrink()
	if got := ut.chunkCount(); got != 1 || len(ut.chunks) != 1 || chunks != 100 {
		t.Fatalf("chunks: %d before, %d after (%d places) evicting all but %d users, want 100 and 1", chunks, got, len(ut.chunks), len(want))
	}
	if len(ut.slots) >= slots/64 {
		t.Fatalf("index: %d slots before, %d after, want under %d", slots, len(ut.slots), slots/64)
	}
	checkUsers(t, &ut, want)
	// Adding again fills the released chunks before new ones.
	for i := range 20 * userChunk {
		key := fmt.Sprintf("v%d", i)
		u, _ := ut.getOrAdd(key)
		u.partition = 1
		want[key] = 1
	}
	checkUsers(t, &ut, want)
	if got := ut.chunkCount(); got > 21 || len(ut.chunks) > 21 {
		t.Fatalf("after 20 chunks of adds: %d chunks held of %d, want at most 21", got, len(ut.chunks))
	}
	// Half of those deleted in a scattered way: packed into 11 chunks.
	i := 0
	for place, u := range ut.all() {
		if i%2 == 1 {
			delete(want, string(u.journey.key()))
			ut.delete(place)
		}
		i++
	}
	ut.shrink()
	checkUsers(t, &ut, want)
	if got, min := ut.chunkCount(), (len(want)+userChunk-1)/userChunk; got != min {
		t.Fatalf("%d users in %d chunks after shrink, want %d", len(want), got, min)
	}
	// Deleting everyone and shrinking releases every chunk.
	for place := range ut.all() {
		ut.delete(place)
	}
	ut.shrink()
	if ut.chunkCount() != 0 || len(ut.chunks) != 0 || ut.places != 0 {
		t.Fatalf("empty table holds %d chunks (%d slots), places %d", ut.chunkCount(), len(ut.chunks), ut.places)
	}
	checkUsers(t, &ut, map[string]int32{})
	u, _ := ut.getOrAdd("again")
	u.partition = 2
	checkUsers(t, &ut, map[string]int32{"again": 2})
}

// BenchmarkUserTableShrink holds 200k users, evicts all but one in 50 (as a
// sweep over a burst of one-off users does) and shrinks: ns/op is the
// shrink alone; heap-MB-kept / heap-MB-shrunk are the live heap held by the
// table after the eviction without and with the shrink.
func BenchmarkUserTableShrink(b *testing.B) {
	const n = 200_000
	heapMB := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	var kept, shrunk float64
	for b.Loop() {
		b.StopTimer()
		base := heapMB()
		ut := &userTable{}
		for i := range n {
			ut.getOrAdd(fmt.Sprintf("user-%d", i))
		}
		i := 0
		for place := range ut.all() {
			if i%50 != 0 {
				ut.delete(place)
			}
			i++
		}
		kept = heapMB() - base
		b.StartTimer()
		ut.shrink()
		b.StopTimer()
		shrunk = heapMB() - base
		runtime.KeepAlive(ut)
		b.StartTimer()
	}
	b.ReportMetric(kept, "heap-MB-kept")
	b.ReportMetric(shrunk, "heap-MB-shrunk")
}
