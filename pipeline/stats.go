package pipeline

import (
	"sync/atomic"
	"time"
)

// stats are the pipeline's counters. The hot path only does atomic adds;
// telemetry and progress read them.
type stats struct {
	touchpoints     atomic.Int64 // valid touchpoints consumed
	conversions     atomic.Int64 // valid conversions consumed
	spend           atomic.Int64 // valid ad-spend events consumed
	invalid         atomic.Int64 // events dead-lettered as unusable
	tooLate         atomic.Int64 // touchpoints beyond the re-attribution horizon
	future          atomic.Int64 // events stamped beyond MaxFutureSkew after their consumption
	misTouchpoints  atomic.Int64 // touchpoints in a partition their key does not hash to
	misConversions  atomic.Int64 // conversions in a partition their key does not hash to
	skipped         atomic.Int64 // uncommitted offsets deleted by retention before consumption
	duplicates      atomic.Int64 // events already seen (by event_id)
	attributed      atomic.Int64 // conversions attributed (first time), once their rows are durable
	reattributed    atomic.Int64 // conversions attributed again after late data, once durable
	pathsCapped     atomic.Int64 // credited paths cut to max_path_touchpoints (each attribution counts)
	modelSkipped    atomic.Int64 // attributions a data-driven model gave no rows: it had no fit yet (per model)
	creditedRows    atomic.Int64 // credited rows acknowledged by ClickHouse
	rawRows         atomic.Int64 // raw event rows acknowledged by ClickHouse
	deadLetters     atomic.Int64 // records written to the dead-letter topic
	deadLettersLost atomic.Int64 // dead letters the broker refused even when cut
	insertBatches   atomic.Int64
	insertErrors    atomic.Int64
	historyLoads    atomic.Int64 // users whose path was reloaded from ClickHouse
	usersInMemory   atomic.Int64
	pending         atomic.Int64 // conversions waiting for the watermark
	commits         atomic.Int64
	lastInsertNanos atomic.Int64
	failingSince    atomic.Int64 // unix nanos of the first failed write of the current outage; 0: writing
	failedBefore    atomic.Int64 // insertErrors when the current outage began
	watermarkDelay  atomic.Int64 // ms between wall clock and the slowest partition watermark
	lag             atomic.Int64 // messages behind the high watermark, all assigned partitions
	rejected        *rejections  // dead-lettered events per reason; nil counts nothing
	started         time.Time
}

// Snapshot is a point-in-time copy of the counters.
type Snapshot struct {
	Elapsed                  time.Duration
	Touchpoints, Conversions int64
	Spend                    int64
	Invalid, TooLate         int64
	Future                   int64 // dead-lettered as future: stamped beyond MaxFutureSkew
	Skipped                  int64
	Duplicates               int64
	Attributed, Reattributed int64
	PathsCapped              int64
	// ModelSkipped counts, per data-driven model, the attributions it gave
	// no rows because it had no fit yet.
	ModelSkipped           int64
	CreditedRows, RawRows  int64
	DeadLetters            int64
	DeadLettersLost        int64
	InsertBatches          int64
	InsertErrors           int64
	HistoryLoads           int64
	UsersInMemory, Pending int64
	Commits                int64
	Lag                    int64
	WatermarkDelay         time.Duration
	LastInsert             time.Duration
	// WritesFailingFor is how long writes to ClickHouse (and the
	// dead-letter topic) have been failing and being retried; 0 when the
	// last write succeeded.
	WritesFailingFor time.Duration
	// Rejected counts the dead-lettered events (invalid, oversize,
	// too_late) per reason, largest first.
	Rejected []ReasonCount
	// Messages in a partition their attribution key does not hash to
	// (murmur2), per input topic: processed, logged (the first few) and
	// counted here.
	MispartitionedTouchpoints, MispartitionedConversions int64
}

func (s *stats) snapshot() Snapshot {
	out := Snapshot{
		Elapsed:         time.Since(s.started),
		Touchpoints:     s.touchpoints.Load(),
		Conversions:     s.conversions.Load(),
		Spend:           s.spend.Load(),
		Invalid:         s.invalid.Load(),
		TooLate:         s.tooLate.Load(),
		Future:          s.future.Load(),
		Skipped:         s.skipped.Load(),
		Duplicates:      s.duplicates.Load(),
		Attributed:      s.attributed.Load(),
		Reattributed:    s.reattributed.Load(),
		CreditedRows:    s.creditedRows.Load(),
		RawRows:         s.rawRows.Load(),
		DeadLetters:     s.deadLetters.Load(),
		DeadLettersLost: s.deadLettersLost.Load(),
		PathsCapped:     s.pathsCapped.Load(),
		ModelSkipped:    s.modelSkipped.Load(),
		InsertBatches:   s.insertBatches.Load(),
		InsertErrors:    s.insertErrors.Load(),
		HistoryLoads:    s.historyLoads.Load(),
		UsersInMemory:   s.usersInMemory.Load(),
		Pending:         s.pending.Load(),
		Commits:         s.commits.Load(),
		Lag:             s.lag.Load(),
		WatermarkDelay:  time.Duration(s.watermarkDelay.Load()) * time.Millisecond,
		LastInsert:      time.Duration(s.lastInsertNanos.Load()),
		Rejected:        s.rejected.snapshot(),

		MispartitionedTouchpoints: s.misTouchpoints.Load(),
		MispartitionedConversions: s.misConversions.Load(),
	}
	if since := s.failingSince.Load(); since != 0 {
		out.WritesFailingFor = time.Since(time.Unix(0, since))
	}
	return out
}
