package attribution

import (
	"slices"
	"sort"
)

// Journey is one user's touchpoints, deduplicated by ID and kept sorted by
// (TimeMs, ID), ready for Engine.Attribute. Of several copies of an ID
// (producers retry, and a retry may carry a later timestamp) the one with
// the earliest TimeMs wins, the first added on a tie: whatever order the
// copies arrive in, the journey ends the same. The replay command and the
// streaming pipeline both keep paths by this rule, so they agree on what a
// path is.
type Journey struct {
	tps []Touchpoint
	ids map[string]struct{} // the held IDs, once journeyIndexAt are held
}

// journeyIndexAt is the length from which a Journey indexes its IDs: short
// journeys (nearly all) scan, long ones (a bot, a shared device) would pay
// a scan per touchpoint, quadratic in their length.
const journeyIndexAt = 64

// Add inserts tp in order and reports whether its ID is new. A copy of a
// held ID reports false; it replaces the held copy, moving to its own
// place in time order, when its TimeMs is earlier, and changes nothing
// otherwise.
func (j *Journey) Add(tp Touchpoint) bool {
	if j.ids != nil {
		if _, dup := j.ids[tp.ID]; dup {
			j.replaceLater(tp)
			return false
		}
		j.ids[tp.ID] = struct{}{}
	} else {
		for i := range j.tps {
			if j.tps[i].ID == tp.ID {
				j.replaceLater(tp)
				return false
			}
		}
		if len(j.tps)+1 >= journeyIndexAt {
			j.ids = make(map[string]struct{}, 2*journeyIndexAt)
			for i := range j.tps {
				j.ids[j.tps[i].ID] = struct{}{}
			}
			j.ids[tp.ID] = struct{}{}
		}
	}
	j.insert(tp)
	return true
}

// replaceLater replaces the held copy of tp's ID by tp if tp is earlier.
func (j *Journey) replaceLater(tp Touchpoint) {
	i := slices.IndexFunc(j.tps, func(h Touchpoint) bool { return h.ID == tp.ID })
	if i < 0 || j.tps[i].TimeMs <= tp.TimeMs {
		return
	}
	j.tps = slices.Delete(j.tps, i, i+1)
	j.insert(tp)
}

func (j *Journey) insert(tp Touchpoint) {
	i := sort.Search(len(j.tps), func(i int) bool { return less(&tp, &j.tps[i]) })
	j.tps = append(j.tps, Touchpoint{})
	copy(j.tps[i+1:], j.tps[i:])
	j.tps[i] = tp
}

// Touchpoints returns the held touchpoints in order. The slice is valid
// until the next Add or Prune.
func (j *Journey) Touchpoints() []Touchpoint { return j.tps }

// Len returns the number of held touchpoints.
func (j *Journey) Len() int { return len(j.tps) }

// Prune drops the touchpoints older than beforeMs and returns how many it
// dropped. Their IDs are forgotten too: a duplicate that old arriving later
// is beyond every window that prune was computed for.
func (j *Journey) Prune(beforeMs int64) int {
	k := sort.Search(len(j.tps), func(i int) bool { return j.tps[i].TimeMs >= beforeMs })
	if k == 0 {
		return 0
	}
	if j.ids != nil {
		for i := range k {
			delete(j.ids, j.tps[i].ID)
		}
	}
	n := copy(j.tps, j.tps[k:])
	clear(j.tps[n:])
	if n < journeyIndexAt/2 {
		j.ids = nil
	}
	j.tps = j.tps[:n]
	return k
}

func less(a, b *Touchpoint) bool {
	if a.TimeMs != b.TimeMs {
		return a.TimeMs < b.TimeMs
	}
	return a.ID < b.ID
}
