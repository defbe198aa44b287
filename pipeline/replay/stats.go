package replay

import (
	"fmt"
	"io"
	"time"
)

// Stats counts what a replay read and wrote.
type Stats struct {
	Touchpoints          int64 // valid touchpoints read, duplicates included
	Conversions          int64 // valid conversions read, duplicates included
	InvalidTouchpoints   int64 // touchpoint lines that failed to decode
	InvalidConversions   int64 // conversion lines that failed to decode
	FutureTouchpoints    int64 // touchpoints stamped beyond Config.MaxFutureSkew after Config.AsOf: left out
	FutureConversions    int64 // conversions stamped beyond Config.MaxFutureSkew after Config.AsOf: left out
	DuplicateTouchpoints int64 // touchpoints whose event_id the user's journey already held
	DuplicateConversions int64 // conversions whose event_id was already seen: no output
	LateTouchpoints      int64 // touchpoints that arrived after a conversion whose path they belong to was attributed
	LateConversions      int64 // conversions older than the prune horizon: attributed with what was still held
	Attributed           int64 // conversions attributed (each exactly once)
	Unattributed         int64 // of which had no touchpoint in their windows
	CappedPaths          int64 // of which had more touchpoints in their windows than max_path_touchpoints: the latest were credited
	Rows                 int64 // credited rows written
	Elapsed              time.Duration

	// Stitching, when Config.Links is set: the link pass's counters (set
	// by the caller of LinkPass) and the events without a user_id keyed by
	// their device's user instead of their anonymous_id.
	Links    *LinkStats
	Stitched int64
}

// EventsPerSecond is the rate of valid and invalid events read.
func (s Stats) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	n := s.Touchpoints + s.Conversions + s.InvalidTouchpoints + s.InvalidConversions
	return float64(n) / s.Elapsed.Seconds()
}

// WriteSummary prints the counters, one per line, for people.
func (s Stats) WriteSummary(w io.Writer) error {
	_, err := fmt.Fprintf(w, `touchpoints read:        %d
  invalid:               %d
  future:                %d
  duplicate:             %d
  late:                  %d
conversions read:        %d
  invalid:               %d
  future:                %d
  duplicate:             %d
  late:                  %d
conversions attributed:  %d
  unattributed:          %d
  path capped:           %d
rows written:            %d
elapsed:                 %s
events/s:                %.0f
`, s.Touchpoints, s.InvalidTouchpoints, s.FutureTouchpoints, s.DuplicateTouchpoints, s.LateTouchpoints,
		s.Conversions, s.InvalidConversions, s.FutureConversions, s.DuplicateConversions, s.LateConversions,
		s.Attributed, s.Unattributed, s.CappedPaths, s.Rows, s.Elapsed.Round(time.Millisecond), s.EventsPerSecond())
	if err != nil {
		return err
	}
	return s.writeLinkSummary(w)
}
