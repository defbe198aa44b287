package flow

import (
	"sync"
	"testing"
)

type countAcker struct {
	mu   sync.Mutex
	done []int64
}

func (c *countAcker) Done(o int64) {
	c.mu.Lock()
	c.done = append(c.done, o)
	c.mu.Unlock()
}

func TestSplitAckFiresOnceAfterEveryPart(t *testing.T) {
	for _, n := range []int{2, 3} {
		c := &countAcker{}
		a := SplitAck(Ack{To: c, Offset: 41}, n)
		var wg sync.WaitGroup
		for range n - 1 {
			wg.Go(a.Done)
		}
		wg.Wait()
		if len(c.done) != 0 {
			t.Fatalf("n=%d: acknowledged after %d of %d parts: %v", n, n-1, n, c.done)
		}
		a.Done()
		if len(c.done) != 1 || c.done[0] != 41 {
			t.Fatalf("n=%d: after every part, acknowledged %v, want [41]", n, c.done)
		}
	}
}

func TestSplitAckOfOneOrNothing(t *testing.T) {
	c := &countAcker{}
	if a := SplitAck(Ack{To: c, Offset: 7}, 1); a.To != c {
		t.Errorf("a split in one part is the ack itself, got %T", a.To)
	}
	if a := SplitAck(Ack{}, 2); a.To != nil {
		t.Errorf("a split of the zero ack acknowledges nothing, got %T", a.To)
	}
}
