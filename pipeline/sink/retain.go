package sink

import "reflect"

// A writer keeps its column buffers from one insert to the next (see
// chcolumns.go), so building a batch's columns allocates nothing once they
// have grown. Without a bound they keep the size of the largest batch ever
// written: one outsized batch (a catch-up after a restart, a burst of long
// paths) pins that memory for the life of the process, and traffic whose
// batches grow slowly ratchets it up for good.
//
// retention bounds them: after every insert into a table, the table's
// buffer set is released (left to the garbage collector, regrown by the
// next batches) when it holds more than retainFactor times the bytes that
// the largest of the last retainBatches inserts used, plus retainSlack. In
// steady traffic nothing is released (append growth stays well within the
// factor); after an outsized batch the buffers are given back once
// retainBatches smaller inserts have followed it. What a writer holds is
// thus bounded by the recent batches, not by the largest one ever.
type retention struct {
	used [retainBatches]int // bytes used by the last inserts, a ring
	next int
}

const (
	retainBatches = 16      // inserts remembered (a few seconds at the default flush interval)
	retainFactor  = 3       // held may exceed what the recent inserts used by this factor...
	retainSlack   = 1 << 20 // ... plus this many bytes, so small buffers are never churned
)

// retainBounded applies r to bufs, a table's column buffers after an
// insert: it records the bytes they used and resets *bufs to its zero
// value, dropping its arrays, when they hold more than the bound. It
// reports whether it did.
func retainBounded[T any](bufs *T, r *retention) bool {
	used, held := bufferBytes(reflect.ValueOf(bufs).Elem())
	r.used[r.next%retainBatches] = used
	r.next++
	peak := 0
	for _, u := range r.used {
		peak = max(peak, u)
	}
	if held <= retainFactor*peak+retainSlack {
		return false
	}
	var zero T
	*bufs = zero
	return true
}

// bufferBytes returns the bytes used (length) and held (capacity) by the
// slices in v, a struct of column buffers (ch-go proto columns: slices of
// plain values, or structs of them), through structs and arrays; pointers
// and maps are not followed.
func bufferBytes(v reflect.Value) (used, held int) {
	switch v.Kind() {
	case reflect.Slice:
		size := int(v.Type().Elem().Size())
		return v.Len() * size, v.Cap() * size
	case reflect.Struct:
		for i := range v.NumField() {
			u, h := bufferBytes(v.Field(i))
			used, held = used+u, held+h
		}
	case reflect.Array:
		for i := range v.Len() {
			u, h := bufferBytes(v.Index(i))
			used, held = used+u, held+h
		}
	}
	return used, held
}
