package pending

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// Whatever order conversions are pushed in, and with pops between pushes,
// every pop returns the least conversion held in release order (time, then
// event id; ties on time are common).
func TestHeapReleasesInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var h Heap[*schemas.Conversion]
		var held []*schemas.Conversion // the reference: what h holds
		popCheck := func() {
			top, ms := h.Top()
			got := h.Pop()
			least := slices.MinFunc(held, func(a, b *schemas.Conversion) int {
				if Less(a, b) {
					return -1
				}
				if Less(b, a) {
					return 1
				}
				return 0
			})
			if got != least || top != got || ms != got.TimeMs {
				t.Fatalf("round %d: popped %+v (top %+v at %d), want %+v", round, *got, *top, ms, *least)
			}
			held = slices.DeleteFunc(held, func(c *schemas.Conversion) bool { return c == got })
		}
		for i := range rng.IntN(60) {
			cv := &schemas.Conversion{EventID: fmt.Sprintf("c%03d", rng.IntN(1000)*100+i), TimeMs: int64(rng.IntN(10))}
			h.Push(cv, cv)
			held = append(held, cv)
			if rng.IntN(4) == 0 {
				popCheck()
			}
		}
		for h.Len() > 0 {
			popCheck()
		}
		if len(held) != 0 {
			t.Fatalf("round %d: %d conversions never popped", round, len(held))
		}
	}
}
