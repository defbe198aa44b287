package flow

// Telemetry names: constants, so that dashboards and alerts can rely on them.
const (
	InstrumentationName = "github.com/attributor/attributor/pipeline"

	MetricEvents         = "attributor.events"          // by topic
	MetricInvalid        = "attributor.events.invalid"  // dead-lettered as unusable
	MetricTooLate        = "attributor.events.too_late" // beyond the re-attribution horizon
	MetricDuplicates     = "attributor.events.duplicate"
	MetricFuture         = "attributor.events.future"         // stamped beyond --max-future-skew
	MetricMispartitioned = "attributor.events.mispartitioned" // by topic: consumed away from the key's home
	MetricForwarded      = "attributor.events.forwarded"      // by kind: produced to the repartition topic, acknowledged
	MetricSkipped        = "attributor.offsets.skipped"       // deleted by retention before consumption
	MetricFetches        = "attributor.kafka.fetches"         // fetch requests sent to Kafka
	MetricDeadLetters    = "attributor.dead_letters"
	MetricDeadLost       = "attributor.dead_letters.lost" // refused by the broker even when cut
	MetricAttributed     = "attributor.conversions.attributed"
	MetricReattributed   = "attributor.conversions.reattributed"
	MetricPathsCapped    = "attributor.paths.capped"   // cut to max_path_touchpoints
	MetricModelSkipped   = "attributor.models.skipped" // a data-driven model without a fit yet
	MetricPending        = "attributor.conversions.pending"
	MetricCreditedRows   = "attributor.rows.credited"
	MetricRawRows        = "attributor.rows.raw"
	MetricInsertBatches  = "attributor.insert.batches"
	MetricInsertErrors   = "attributor.insert.errors"
	MetricRefused        = "attributor.rows.refused" // rows ClickHouse refused for their values: dead-lettered as refused
	MetricInsertLatency  = "attributor.insert.duration"
	MetricLag            = "attributor.consumer.lag"
	MetricWatermarkDelay = "attributor.watermark.delay"
	MetricUsers          = "attributor.users.in_memory"
	MetricHistoryLoads   = "attributor.history.loads"
	MetricCommits        = "attributor.commits"
	// Identity stitching.
	MetricLinks         = "attributor.links"                 // by origin (identity, event): links that decided a device's user
	MetricLinkConflicts = "attributor.links.conflicts"       // a device linked to a second user (shared device): stored, never applied
	MetricLinksTooLate  = "attributor.links.too_late"        // identity events beyond the re-attribution horizon
	MetricMoves         = "attributor.moves"                 // devices whose events changed key
	MetricRetractions   = "attributor.conversions.retracted" // credits retracted under a day their conversion left

	AttrTopic  = "topic"
	AttrKind   = "kind"   // touchpoint, conversion or link (forwarded identity events and link copies)
	AttrOrigin = "origin" // of a link: identity or event (LinkFromIdentity, LinkFromEvent)
	AttrCause  = "cause"  // of a re-attribution: late (touchpoints) or link

	// The sink's span, one per batch written, and its attributes.
	SpanSinkFlush    = "attributor.sink.flush"
	AttrRowsRaw      = "attributor.rows.raw"
	AttrRowsCredited = "attributor.rows.credited"
	AttrDeadLetters  = "attributor.dead_letters"
	AttrMessages     = "attributor.messages"
)
