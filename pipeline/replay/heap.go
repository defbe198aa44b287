package replay

import "github.com/attributor/attributor/schemas"

// pendingConv is a conversion waiting for the watermark.
type pendingConv struct {
	conv schemas.Conversion
	user *user
}

// convHeap is a min-heap of pending conversions ordered by (TimeMs, EventID):
// the order in which they are released, whatever order they arrived in.
type convHeap []pendingConv

func (h convHeap) less(i, j int) bool {
	a, b := &h[i].conv, &h[j].conv
	if a.TimeMs != b.TimeMs {
		return a.TimeMs < b.TimeMs
	}
	return a.EventID < b.EventID
}

func (h *convHeap) push(p pendingConv) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *convHeap) pop() pendingConv {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = pendingConv{}
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
