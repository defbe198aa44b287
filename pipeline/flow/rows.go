package flow

import "github.com/attributor/attributor/schemas"

// TPRow is a raw touchpoint as stored.
type TPRow struct {
	TP           schemas.Touchpoint
	SessionStart int64
	Partition    int32
	TooLate      bool // beyond the re-attribution horizon: stored, never in a path
}

// ConvRow is a raw conversion as stored.
type ConvRow struct {
	CV        schemas.Conversion
	Partition int32
}

// IdentityRow is a raw identity event as stored (table identities).
type IdentityRow struct {
	ID        schemas.Identity
	Partition int32 // its anonymous_id's home
	TooLate   bool  // beyond the re-attribution horizon: stored, never applied
}

// LinkRow is a link as stored (table links): every link that changed its
// home's link table (a first link, an earlier one, a new conflict), so
// that the home's next owner rebuilds the same table from them.
type LinkRow struct {
	Link   schemas.Link
	Home   int32  // the anonymous_id's home
	Origin string // LinkFromIdentity or LinkFromEvent
}

// Origins of a link.
const (
	LinkFromIdentity = "identity" // an identity event
	LinkFromEvent    = "event"    // a touchpoint or conversion carrying both ids
)

// Column lists of the inserts. Naming the columns is required by
