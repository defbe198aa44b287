package pipeline

import (
	"time"

	"github.com/attributor/attributor/pipeline/flow"
)

// ReasonCount is how many events were rejected for one reason.
type ReasonCount = flow.ReasonCount

// Snapshot is a point-in-time copy of the counters.
type Snapshot struct {
	Elapsed                  time.Duration
	Touchpoints, Conversions int64
	Spend                    int64
	Invalid, TooLate         int64
	Future                   int64 // dead-lettered as future: stamped beyond MaxFutureSkew
	Skipped                  int64
	Fetches                  int64 // fetch requests sent to Kafka
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
	Refused                int64 // rows ClickHouse refused for their values, dead-lettered as "refused"
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
	// Events forwarded to their home partition through the repartition
	// topic (acknowledged by Kafka), per kind. Zero when producers key by
	// the attribution key with murmur2 into as many partitions as the
	// repartition topic has (the direct path).
	ForwardedTouchpoints, ForwardedConversions int64
	// Identity stitching (all zero without an identities topic).
	Identities int64 // valid identity events consumed
	// ForwardedLinks: link copies (of events carrying both ids) and
	// identity events forwarded to their anonymous_id's home.
	ForwardedLinks int64
	// Links that decided a device's user (a first link, or an earlier one
	// that took over), from identity events and from events with both ids.
	LinksIdentity, LinksEvent int64
	LinkConflicts             int64 // (anonymous_id, user_id) pairs linked but not applied: shared devices
	LinksTooLate              int64 // identity events beyond the horizon: stored, never applied
	Moves                     int64 // devices whose events changed key
	ReattributedLink          int64 // of Reattributed: caused by a link
	// Retractions: a conversion's credits retracted under a day it left
	// (a copy stamped on an earlier day became the conversion after its
	// first credit was stored).
	Retractions int64
}

// snapshotOf copies the counters of s.
func snapshotOf(s *flow.Stats) Snapshot {
	out := Snapshot{
		Elapsed:         time.Since(s.Started),
		Touchpoints:     s.Touchpoints.Load(),
		Conversions:     s.Conversions.Load(),
		Spend:           s.Spend.Load(),
		Invalid:         s.Invalid.Load(),
		TooLate:         s.TooLate.Load(),
		Future:          s.Future.Load(),
		Skipped:         s.Skipped.Load(),
		Fetches:         s.Fetches.Load(),
		Duplicates:      s.Duplicates.Load(),
		Attributed:      s.Attributed.Load(),
		Reattributed:    s.Reattributed.Load(),
		CreditedRows:    s.CreditedRows.Load(),
		RawRows:         s.RawRows.Load(),
		DeadLetters:     s.DeadLetters.Load(),
		DeadLettersLost: s.DeadLettersLost.Load(),
		PathsCapped:     s.PathsCapped.Load(),
		ModelSkipped:    s.ModelSkipped.Load(),
		InsertBatches:   s.InsertBatches.Load(),
		InsertErrors:    s.InsertErrors.Load(),
		Refused:         s.Refused.Load(),
		HistoryLoads:    s.HistoryLoads.Load(),
		UsersInMemory:   s.UsersInMemory.Load(),
		Pending:         s.Pending.Load(),
		Commits:         s.Commits.Load(),
		Lag:             s.Lag.Load(),
		WatermarkDelay:  time.Duration(s.WatermarkDelay.Load()) * time.Millisecond,
		LastInsert:      time.Duration(s.LastInsertNanos.Load()),
		Rejected:        s.Rejected.Counts(),

		MispartitionedTouchpoints: s.MisTouchpoints.Load(),
		MispartitionedConversions: s.MisConversions.Load(),
		ForwardedTouchpoints:      s.FwdTouchpoints.Load(),
		ForwardedConversions:      s.FwdConversions.Load(),

		Identities:       s.Identities.Load(),
		ForwardedLinks:   s.FwdLinks.Load(),
		LinksIdentity:    s.LinksIdentity.Load(),
		LinksEvent:       s.LinksEvent.Load(),
		LinkConflicts:    s.LinkConflicts.Load(),
		LinksTooLate:     s.LinksTooLate.Load(),
		Moves:            s.Moves.Load(),
		ReattributedLink: s.ReattributedLink.Load(),
		Retractions:      s.Retractions.Load(),
	}
	if since := s.FailingSince.Load(); since != 0 {
		out.WritesFailingFor = time.Since(time.Unix(0, since))
	}
	return out
}
