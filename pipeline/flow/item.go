package flow

import "github.com/attributor/attributor/schemas"

type ItemKind uint8

const (
	KindTouchpoint ItemKind = iota
	KindConversion
	KindMark     // a touchpoint partition's watermark moved
	KindBarrier  // hand everything so far to the sink, then reply
	KindFlushAll // attribute every pending conversion, then as kindBarrier
)

// Item is what the fetchers send a shard. A fetcher's items reach a shard in
// fetch order, so a watermark mark arrives after every touchpoint it covers.
type Item struct {
	Kind ItemKind
	// Partition is the event's home: the repartition partition whose
	// owner processes it (the input partition itself on the direct path).
	// The shards' per-partition state (watermark, frontier, pending) and
	// the stored partition column are per home.
	Partition int32
	Ack       Ack
	// Origin and Offset say where the event was consumed from: its input
	// partition and offset (for dead letters), also when it was forwarded.
	Origin int32
	Offset int64
	Key    []byte
	Value  []byte
	TP     schemas.Touchpoint
	CV     schemas.Conversion
	// A mark: input touchpoint partition Src got to event time WM, and was
	// at the end of its log when CaughtUp.
	Src      int32
	WM       int64
	CaughtUp bool
	Reply    chan struct{}
}
