// Package pending holds the conversions that wait for the watermark, in
// the order they are released: by event time, then event id, whatever
// order they arrived in. The stream's shards and replay both use it, so the
// two release conversions in the same order. It is pure: it imports only
// schemas, so replay can use it without importing the stream.
package pending

import "github.com/attributor/attributor/schemas"

// Less is the release order of conversions: by TimeMs, then EventID.
func Less(a, b *schemas.Conversion) bool {
	if a.TimeMs != b.TimeMs {
		return a.TimeMs < b.TimeMs
	}
	return a.EventID < b.EventID
}

// Heap is a min-heap of values in the release order of the conversion
// each was pushed with. The zero value is empty and ready to use.
type Heap[T any] struct {
	s []entry[T]
}

// entry keeps a copy of the conversion's sort key beside its value, so
// that the heap orders values whatever they are (pointers or not).
type entry[T any] struct {
	timeMs  int64
	eventID string
	v       T
}

func (e *entry[T]) less(o *entry[T]) bool {
	if e.timeMs != o.timeMs {
		return e.timeMs < o.timeMs
	}
	return e.eventID < o.eventID
}

// Len is the number of values held.
func (h *Heap[T]) Len() int { return len(h.s) }

// Top returns the first value to be released, and the time of its
// conversion; the heap must not be empty.
func (h *Heap[T]) Top() (T, int64) { return h.s[0].v, h.s[0].timeMs }

// Push adds v, released in the order of cv.
func (h *Heap[T]) Push(cv *schemas.Conversion, v T) {
	h.s = append(h.s, entry[T]{timeMs: cv.TimeMs, eventID: cv.EventID, v: v})
	s := h.s
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].less(&s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

// Pop removes and returns the first value to be released; the heap must
// not be empty.
func (h *Heap[T]) Pop() T {
	s := h.s
	top := s[0].v
	n := len(s) - 1
	s[0] = s[n]
	s[n] = entry[T]{}
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].less(&s[m]) {
			m = l
		}
		if r < n && s[r].less(&s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	h.s = s
	return top
}
