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

// Column lists of the inserts. Naming the columns is required by
