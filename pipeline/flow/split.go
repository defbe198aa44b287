package flow

import "sync/atomic"

// SplitAck returns an Ack whose Done must be called n times before a's
// fires: one message whose output travels in n parts (an event processed
// under its user and its link copied to its device's home) is durable
// once every part is. n <= 1, or a zero a, returns a itself.
func SplitAck(a Ack, n int) Ack {
	if n <= 1 || a.To == nil {
		return a
	}
	s := &splitAcker{a: a}
	s.left.Store(int32(n))
	return Ack{To: s, Offset: a.Offset}
}

// splitAcker fires its Ack on the last of its Done calls.
type splitAcker struct {
	left atomic.Int32
	a    Ack
}

func (s *splitAcker) Done(int64) {
	if s.left.Add(-1) == 0 {
		s.a.Done()
	}
}
