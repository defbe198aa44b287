package flow

import (
	"sync/atomic"
	"time"
)

// Stats are the pipeline's counters. The hot path only does atomic adds;
// telemetry and progress read them.
type Stats struct {
	Touchpoints    atomic.Int64 // valid touchpoints consumed
	Conversions    atomic.Int64 // valid conversions consumed
	Spend          atomic.Int64 // valid ad-spend events consumed
	Invalid        atomic.Int64 // events dead-lettered as unusable
	TooLate        atomic.Int64 // touchpoints beyond the re-attribution horizon
	Future         atomic.Int64 // events stamped beyond MaxFutureSkew after their consumption
	MisTouchpoints atomic.Int64 // touchpoints in a partition their key does not hash to
	MisConversions atomic.Int64 // conversions in a partition their key does not hash to
	FwdTouchpoints atomic.Int64 // touchpoints forwarded to their home through the repartition topic (acknowledged)
	FwdConversions atomic.Int64 // conversions forwarded likewise
	Skipped        atomic.Int64 // uncommitted offsets deleted by retention before consumption
	Fetches        atomic.Int64 // fetch requests sent to Kafka (every partition's)
	Duplicates     atomic.Int64 // events already seen (by event_id)
	Attributed     atomic.Int64 // conversions attributed (first time), once their rows are durable
	Reattributed   atomic.Int64 // conversions attributed again after late data, once durable
	// Identity stitching.
	Identities       atomic.Int64 // valid identity events consumed
	FwdLinks         atomic.Int64 // link copies and identity events forwarded to their anonymous_id's home (acknowledged)
	LinksIdentity    atomic.Int64 // links that decided a device's user (first or earlier link), from identity events
	LinksEvent       atomic.Int64 // ... from touchpoints and conversions carrying both ids
	LinkConflicts    atomic.Int64 // (anonymous_id, user_id) pairs linked but not applied: shared devices
	LinksTooLate     atomic.Int64 // identity events beyond the re-attribution horizon: stored, never applied
	Moves            atomic.Int64 // devices whose events changed key (moves processed at the user's home)
	ReattributedLink atomic.Int64 // of Reattributed: caused by a link (a move), once durable
	// Retractions: credits retracted under a day a conversion left (a copy
	// stamped on an earlier day became the conversion after its first
	// credit was stored).
	Retractions     atomic.Int64
	PathsCapped     atomic.Int64 // credited paths cut to max_path_touchpoints (each attribution counts)
	ModelSkipped    atomic.Int64 // attributions a data-driven model gave no rows: it had no fit yet (per model)
	CreditedRows    atomic.Int64 // credited rows acknowledged by ClickHouse
	RawRows         atomic.Int64 // raw event rows acknowledged by ClickHouse
	DeadLetters     atomic.Int64 // records written to the dead-letter topic
	DeadLettersLost atomic.Int64 // dead letters the broker refused even when cut
	InsertBatches   atomic.Int64
	InsertErrors    atomic.Int64
	Refused         atomic.Int64 // rows ClickHouse refused (a bad value): dead-lettered, the rest written
	HistoryLoads    atomic.Int64 // users whose path was reloaded from ClickHouse
	UsersInMemory   atomic.Int64
	Pending         atomic.Int64 // conversions waiting for the watermark
	Commits         atomic.Int64
	LastInsertNanos atomic.Int64
	FailingSince    atomic.Int64 // unix nanos of the first failed write of the current outage; 0: writing
	FailedBefore    atomic.Int64 // insertErrors when the current outage began
	WatermarkDelay  atomic.Int64 // ms between wall clock and the slowest partition watermark
	Lag             atomic.Int64 // messages behind the high watermark, all assigned partitions
	Rejected        *Rejections  // dead-lettered events per reason; nil counts nothing
	Started         time.Time
}
