package replay

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
)

// LinkStats counts what the link pass read and decided.
type LinkStats struct {
	Identities          int64         // valid identity events read, duplicates included
	InvalidIdentities   int64         // identity lines that failed to decode
	FutureIdentities    int64         // identity events stamped beyond MaxFutureSkew after AsOf: left out, as the stream dead-letters them
	DuplicateIdentities int64         // identity events whose event_id was already read
	EventLinks          int64         // touchpoints and conversions that carry both ids, and so link too
	Devices             int64         // anonymous_ids linked to a user
	Conflicts           int64         // (anonymous_id, user_id) pairs linked but not applied: shared devices
	Elapsed             time.Duration // of the link pass (Stats.Elapsed is the replay's alone)
}

// LinkPass reads every link of a replay, from the identity events and from
// the touchpoints and conversions that carry both user_id and
// anonymous_id, into a stitch table for Config.Links: a first pass over
// the inputs, so that a link applies to the events before it as much as to
// those after (retroactively), and the table, hence the output, is the
// same whatever the order of the lines.
//
// Invalid identity lines are reported on diag (the first
// cfg.MaxErrorsShown) and counted; invalid touchpoint and conversion lines
// are skipped silently, the replay reports them. events are read with the
// decoder of their kind; either may be a zero Input (R nil) to skip it.
func LinkPass(ctx context.Context, cfg Config, identities, touchpoints, conversions Input, diag io.Writer) (*stitch.Table, LinkStats, error) {
	start := time.Now()
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, LinkStats{}, err
	}
	dec := schemas.NewDecoder(cfg.ChannelRules)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers sync.WaitGroup
	defer readers.Wait() // after cancel: the readers stop early on an error
	tab := stitch.NewTable()
	var st LinkStats
	var ignored int64

	// Events the replay leaves out as future link nothing either.
	future := cfg.futureCheck()
	decodeTP, decodeCV := cfg.decoders(dec)
	if identities.R != nil {
		decodeID := func(b []byte) (schemas.Identity, error) {
			id, err := dec.Identity(b)
			if err == nil {
				err = future(id.TimeMs)
			}
			return id, err
		}
		src := startSource(ctx, &readers, identities, decodeID, diag, cfg.MaxErrorsShown, &st.InvalidIdentities, &st.FutureIdentities)
		seen := make(map[string]struct{})
		for {
			id, ok, err := src.next()
			if err != nil {
				return nil, st, err
			}
			if !ok {
				break
			}
			st.Identities++
			if _, dup := seen[id.EventID]; dup {
				st.DuplicateIdentities++
				continue
			}
			seen[id.EventID] = struct{}{}
			tab.Add(id.Link())
		}
	}
	if touchpoints.R != nil {
		src := startSource(ctx, &readers, touchpoints, decodeTP, io.Discard, 0, &ignored, &ignored)
		if err := addEventLinks(src, (*schemas.Touchpoint).Link, tab, &st); err != nil {
			return nil, st, err
		}
	}
	if conversions.R != nil {
		src := startSource(ctx, &readers, conversions, decodeCV, io.Discard, 0, &ignored, &ignored)
		if err := addEventLinks(src, (*schemas.Conversion).Link, tab, &st); err != nil {
			return nil, st, err
		}
	}
	st.Devices, st.Conflicts = int64(tab.Len()), int64(tab.Conflicts())
	st.Elapsed = time.Since(start)
	return tab, st, nil
}

func addEventLinks[T any](src *source[T], link func(*T) (schemas.Link, bool), tab *stitch.Table, st *LinkStats) error {
	for {
		ev, ok, err := src.next()
		if err != nil || !ok {
			return err
		}
		if l, ok := link(&ev); ok {
			st.EventLinks++
			tab.Add(l)
		}
	}
}

// writeLinkSummary prints the stitching counters after the summary.
func (s Stats) writeLinkSummary(w io.Writer) error {
	if s.Links == nil {
		return nil
	}
	l := s.Links
	_, err := fmt.Fprintf(w, `identities read:         %d
  invalid:               %d
  future:                %d
  duplicate:             %d
events with both ids:    %d
devices linked:          %d
  conflicts:             %d
events stitched:         %d
link pass elapsed:       %s
`, l.Identities, l.InvalidIdentities, l.FutureIdentities, l.DuplicateIdentities, l.EventLinks, l.Devices, l.Conflicts, s.Stitched, l.Elapsed.Round(time.Millisecond))
	return err
}
