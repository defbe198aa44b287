package sessionize

import (
	"sync/atomic"

	"github.com/attributor/attributor/attribution"
)

// Fits carries the fits of the data-driven models to the shards. The
// runner's fit loop swaps a new attribution.Fits in whole (Store); each
// shard loads the pointer once per batch (an atomic load, no lock on the
// hot path) and, when it changed, hands the fits to its own engine between
// two conversions. Fits are values that are never changed, so all shards
// share them.
type Fits struct {
	p atomic.Pointer[attribution.Fits]
}

// Load returns the fits held; nil before the first Store.
func (h *Fits) Load() *attribution.Fits { return h.p.Load() }

// Store makes f the fits the shards apply from their next batch on.
func (h *Fits) Store(f *attribution.Fits) { h.p.Store(f) }

// applyFits hands the shard's engine the fits held, when they changed
// since the last batch. A fit the engine refuses (it was validated when
// loaded, so this is a bug) leaves the engine's fits as they were.
func (s *Shard) applyFits() {
	if s.cfg.Fits == nil {
		return
	}
	f := s.cfg.Fits.Load()
	if f == nil || f == s.applied {
		return
	}
	s.applied = f
	if err := s.eng.SetFits(*f); err != nil {
		s.cfg.Logger.Error("fits refused by the engine; keeping the ones held", "shard", s.id, "err", err)
		return
	}
	ids := make([]string, len(s.models))
	any := false
	for m := range s.models {
		ids[m] = s.eng.FitID(m)
		any = any || ids[m] != ""
	}
	if !any {
		ids = nil
	}
	s.fitIDs = ids
}
