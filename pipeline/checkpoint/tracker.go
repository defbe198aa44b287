// Package checkpoint holds the offset trackers: which fetched offsets are
// durable (every row derived from them acknowledged by ClickHouse) and so
// may be committed. It knows nothing of Kafka or ClickHouse; the runner
// commits what a Tracker says is committable.
package checkpoint

import "sync"

// Tracker follows the messages of one partition from fetch to
// durability. Offsets are added in fetch order; each is marked done when
// every row derived from it is acknowledged by ClickHouse (or it needed
// none). Committable returns the offset after the longest done prefix: the
// only offset that may be committed, so that a crash never skips a message
// whose rows are not written.
type Tracker struct {
	mu      sync.Mutex
	entries []trackEntry // fetched, not yet committable, in offset order
	head    int          // entries[:head] are consumed
	next    int64        // the committable offset: all before it are done
	dirty   bool         // next moved since the last Committable
}

type trackEntry struct {
	offset int64
	done   bool
}

func NewTracker(start int64) *Tracker { return &Tracker{next: start} }

// Add registers a fetched offset. Offsets must be added in increasing order.
func (t *Tracker) Add(offset int64) {
	t.mu.Lock()
	if len(t.entries) == t.head {
		// Nothing outstanding: jump over gaps (compacted or transactional
		// offsets) so that the committable offset follows the fetch position.
		t.entries, t.head = t.entries[:0], 0
		if offset > t.next {
			t.next, t.dirty = offset, true
		}
	}
	t.entries = append(t.entries, trackEntry{offset: offset})
	t.mu.Unlock()
}

// Done marks offset as durable.
func (t *Tracker) Done(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.entries[t.head:]
	// Offsets are increasing: binary search.
	lo, hi := 0, len(live)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if live[m].offset < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(live) || live[lo].offset != offset {
		return // not tracked (already committed by an earlier generation)
	}
	live[lo].done = true
	for t.head < len(t.entries) && t.entries[t.head].done {
		t.next = t.entries[t.head].offset + 1
		t.head++
		t.dirty = true
	}
	if t.head > 4096 && t.head*2 > len(t.entries) {
		n := copy(t.entries, t.entries[t.head:])
		t.entries, t.head = t.entries[:n], 0
	}
}

// Committable returns the offset to commit and whether it moved since the
// previous call.
func (t *Tracker) Committable() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	moved := t.dirty
	t.dirty = false
	return t.next, moved
}

// Outstanding returns how many fetched offsets are not yet done.
func (t *Tracker) Outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) - t.head
}

// Retry marks the committable offset as moved again, after a commit of it
// failed, so that the next commit sends it once more.
func (t *Tracker) Retry() {
	t.mu.Lock()
	t.dirty = true
	t.mu.Unlock()
}
