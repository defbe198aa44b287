package flow

import (
	"sync"

	"github.com/attributor/attributor/schemas"
)

type ItemKind uint8

const (
	KindTouchpoint ItemKind = iota
	KindConversion
	KindMark     // a touchpoint partition's watermark moved
	KindBarrier  // hand everything so far to the sink, then reply
	KindFlushAll // attribute every pending conversion, then as kindBarrier
	// Identity stitching (see Move and docs/DESIGN.md "Identity
	// stitching in the stream"):
	KindIdentity // an identity event (Link), at its anonymous_id's home
	KindLink     // the link of a touchpoint or conversion carrying both ids (Link), copied to its anonymous_id's home
	KindMove     // an anonymous_id's events change key (Move)
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
	// UserKey is the key the event is processed under when it is not the
	// event's own (user_id, else anonymous_id): a device's event forwarded
	// to the home of the user its anonymous_id is linked to carries that
	// user here (the repartition record's attributor.key header).
	UserKey string
	// Link: of a KindIdentity (the identity event's) or KindLink item.
	Link schemas.Link
	// Move: of a KindMove item.
	Move Move
	// A mark: input touchpoint partition Src got to event time WM, and was
	// at the end of its log when CaughtUp.
	Src      int32
	WM       int64
	CaughtUp bool
	Reply    chan struct{}
}

// BatchItems is the most items a fetcher hands a shard at once: a shard's
// queue carries batches of items (in fetch order), not single items, so
// that the channel's cost (a lock, a wake-up) is paid per batch.
const BatchItems = 128

// itemBatches recycles the batches (as *[]Item) once a shard has taken
// their items.
var itemBatches sync.Pool

// GetItems returns an empty batch with room for BatchItems items.
func GetItems() []Item {
	if p, ok := itemBatches.Get().(*[]Item); ok {
		return *p
	}
	return make([]Item, 0, BatchItems)
}

// PutItems recycles b once its items were copied out; a batch smaller
// than BatchItems (a mark, a barrier) is left to the garbage collector.
func PutItems(b []Item) {
	if cap(b) < BatchItems {
		return
	}
	clear(b)
	b = b[:0]
	itemBatches.Put(&b)
}
