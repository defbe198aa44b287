package flow

import (
	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// History is what the store holds of some users: touchpoints and the
// conversions already attributed.
type History struct {
	Touchpoints map[string][]attribution.Touchpoint
	Conversions map[string][]schemas.Conversion
	// Devices holds, per key asked for, the anonymous_ids whose deciding
	// link is to that key (identity stitching): their events, stored under
	// the anonymous_id, are in Touchpoints and Conversions under it.
	Devices map[string][]string
	// Versions holds the highest version stored of each conversion in
	// Conversions that was ever credited (retractions aside).
	Versions map[string]uint32
	// Days holds, for each conversion in Conversions that was ever
	// credited, the days (since the epoch, UTC) under which its stored
	// rows still show credits: one, its own, unless a copy stamped on an
	// earlier day became the conversion and the old day's retraction is
	// not yet stored.
	Days map[string][]int32
	// Linked holds, for each key asked for that is a linked anonymous_id,
	// the user its stored links decide.
	Linked map[string]string
}
