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
	Kind      ItemKind
	Partition int32
	Ack       Ack
	Offset    int64
	Key       []byte
	Value     []byte
	TP        schemas.Touchpoint
	CV        schemas.Conversion
	WM        int64
	CaughtUp  bool
	Reply     chan struct{}
}
