package attribution

import (
	"fmt"
	"math"
	"slices"
)

// MaxShapleyChannels is the most distinct channels a path may have for the
// shapley model to compute its values exactly (2^20 coalitions); a path
// with more is credited linearly, and counted.
const MaxShapleyChannels = 20

// ShapleyFit is the set-based Shapley fit of the paths: the conversion
// probability of every channel set seen, and the Shapley values of every
// converting set. It is a value: serialisable as JSON, never changed after
// fitting, safe to share between engines.
type ShapleyFit struct {
	FitSummary
	// Sets are the distinct channel sets of the paths, sorted.
	Sets []ShapleySet `json:"sets"`
	// Effects has one entry per channel of Channels, in that order.
	Effects []ShapleyEffect `json:"effects"`
}

// ShapleySet is one channel set S and its paths.
type ShapleySet struct {
	Channels    []string `json:"channels"` // sorted
	Conversions uint64   `json:"conversions"`
	Nulls       uint64   `json:"nulls"`
	// P is p(S) = Conversions / (Conversions + Nulls).
	P float64 `json:"p"`
	// Phi holds φ(c) for each channel of Channels, as defined (negative
	// values are kept; the model counts them as 0). Only for sets with
	// conversions and at most MaxShapleyChannels channels.
	Phi []float64 `json:"phi,omitempty"`
}

// ShapleyEffect sums a channel's credit over the training conversions.
type ShapleyEffect struct {
	Channel string `json:"channel"`
	// Conversions is the number of training conversions credited to the
	// channel, as the model would credit them.
	Conversions float64 `json:"conversions"`
	// Share is Conversions over all training conversions.
	Share float64 `json:"share"`
}

// FitShapley fits p(S) for every channel set S of the paths and φ for
// every converting set. It fails on no paths and no conversions; a single
// channel is fitted (φ = p) with a warning. The result does not depend on
// the order of in.Paths.
func FitShapley(in FitPaths) (*ShapleyFit, error) {
	paths, err := canonicalPaths(in)
	if err != nil {
		return nil, err
	}
	sum, err := summarize("shapley", in, paths)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	var sets []ShapleySet
	for _, p := range paths {
		set := slices.Clone(p.Channels)
		slices.Sort(set)
		set = slices.Compact(set)
		key := fmt.Sprintf("%q", set)
		i, ok := index[key]
		if !ok {
			i = len(sets)
			index[key] = i
			sets = append(sets, ShapleySet{Channels: set})
		}
		sets[i].Conversions += p.Conversions
		sets[i].Nulls += p.Nulls
	}
	slices.SortFunc(sets, func(a, b ShapleySet) int { return slices.Compare(a.Channels, b.Channels) })
	for i := range sets {
		s := &sets[i]
		s.P = float64(s.Conversions) / float64(s.Conversions+s.Nulls)
	}
	f := &ShapleyFit{FitSummary: sum, Sets: sets}
	t := newShapleyTable(f)
	credited := make([]float64, len(f.Channels))
	var sc shapleyScratch
	for i := range f.Sets {
		s := &f.Sets[i]
		if s.Conversions == 0 {
			continue
		}
		ids := make([]int32, len(s.Channels))
		for k, c := range s.Channels {
			ids[k] = t.id[c]
		}
		if len(ids) <= MaxShapleyChannels {
			s.Phi = make([]float64, len(ids))
			t.phi(ids, len(ids), s.Phi, &sc)
		}
		// The credit the model gives each of the set's conversions.
		pos := 0.0
		for _, v := range s.Phi {
			pos += max(v, 0)
		}
		for k, id := range ids {
			share := 1 / float64(len(ids))
			if pos > 0 {
				share = max(s.Phi[k], 0) / pos
			}
			credited[id] += share * float64(s.Conversions)
		}
	}
	f.Effects = make([]ShapleyEffect, len(f.Channels))
	for i, c := range f.Channels {
		f.Effects[i] = ShapleyEffect{Channel: c, Conversions: credited[i], Share: credited[i] / float64(f.Conversions)}
	}
	return f, nil
}

// Validate checks what applying the fit relies on, for a fit loaded from
// storage: the model's name, sets of known channels with finite p in
// [0, 1] and φ of their length, one effect per channel.
func (f *ShapleyFit) Validate() error {
	if f.Model != "shapley" {
		return fmt.Errorf("shapley fit: model is %q", f.Model)
	}
	known := map[string]bool{}
	for _, c := range f.Channels {
		known[c] = true
	}
	for i, s := range f.Sets {
		if len(s.Channels) == 0 || !slices.IsSorted(s.Channels) {
			return fmt.Errorf("shapley fit: sets[%d]: channels empty or not sorted", i)
		}
		for _, c := range s.Channels {
			if !known[c] {
				return fmt.Errorf("shapley fit: sets[%d]: channel %q not in channels", i, c)
			}
		}
		if !(s.P >= 0 && s.P <= 1) {
			return fmt.Errorf("shapley fit: sets[%d]: p %v outside [0, 1]", i, s.P)
		}
		if s.Phi != nil && len(s.Phi) != len(s.Channels) {
			return fmt.Errorf("shapley fit: sets[%d]: %d phi for %d channels", i, len(s.Phi), len(s.Channels))
		}
		for _, v := range s.Phi {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("shapley fit: sets[%d]: phi %v is not a number", i, v)
			}
		}
	}
	return validEffects("shapley fit", len(f.Effects), func(i int) (string, float64) {
		return f.Effects[i].Channel, f.Effects[i].Share
	})
}

// shapleyTable indexes a fit's sets for computing φ: channels by id, sets
// by a hash of their sorted ids.
type shapleyTable struct {
	fit    *ShapleyFit
	id     map[string]int32
	sets   [][]int32        // per set of fit.Sets: sorted channel ids
	byHash map[uint64]int32 // first set of a hash; further ones chained in nextSet
	next   []int32
	seen   []int32 // sets with p > 0: the only ones a Shapley value sums over
}

func newShapleyTable(f *ShapleyFit) *shapleyTable {
	t := &shapleyTable{fit: f, id: make(map[string]int32, len(f.Channels)), byHash: make(map[uint64]int32, len(f.Sets))}
	for i, c := range f.Channels {
		t.id[c] = int32(i)
	}
	t.sets = make([][]int32, len(f.Sets))
	t.next = make([]int32, len(f.Sets))
	for i, s := range f.Sets {
		ids := make([]int32, len(s.Channels))
		for k, c := range s.Channels {
			ids[k] = t.id[c]
		}
		t.sets[i] = ids
		h := hashIDs(ids)
		t.next[i] = -1
		if j, ok := t.byHash[h]; ok {
			t.next[i] = j
		}
		t.byHash[h] = int32(i)
		if s.P > 0 {
			t.seen = append(t.seen, int32(i))
		}
	}
	return t
}

// hashIDs is FNV-1a over the ids.
func hashIDs(ids []int32) uint64 {
	h := uint64(14695981039346656037)
	for _, id := range ids {
		h ^= uint64(uint32(id))
		h *= 1099511628211
	}
	return h
}

// lookup returns the index of the set of sorted ids, or -1.
func (t *shapleyTable) lookup(ids []int32) int {
	j, ok := t.byHash[hashIDs(ids)]
	if !ok {
		return -1
	}
	for ; j >= 0; j = t.next[j] {
		if slices.Equal(t.sets[j], ids) {
			return int(j)
		}
	}
	return -1
}

// shapleyScratch holds the buffers of phi, reused across calls.
type shapleyScratch struct {
	weight []float64 // weight[t] = t!(n−t−1)!/n!
	local  []int32   // channel id -> position in the coalition, or -1
	sub    []int32   // a subset's ids
}

// phi writes into out the Shapley value of each channel of the coalition
// whose known channels are the sorted ids (len(ids) <= n, n <= 20 the
// coalition's size: the other n − len(ids) channels are unseen in training,
// and every set holding one has p = 0). With p(∅) = 0 and w(t) =
// t!(n−t−1)!/n!, φ(c) = Σ_{T ⊆ S∖{c}} w(|T|)(p(T∪{c}) − p(T)) regroups as a
// sum over the sets U ⊆ S with p(U) > 0: each adds w(|U|−1)·p(U) to φ of
// its members and subtracts w(|U|)·p(U) from φ of the others. phi walks
// those U either through the 2^len(ids) subsets or through the fit's sets,
// whichever are fewer. φ of the unseen channels (which is ≤ 0) is not
// written.
func (t *shapleyTable) phi(ids []int32, n int, out []float64, sc *shapleyScratch) {
	sc.weight = sc.weight[:0]
	for k := 0; k < n; k++ {
		// w(k) = 1/(n·C(n−1, k)); C(19, k) < 2^53 is exact.
		c := 1.0
		for j := 1; j <= k; j++ {
			c = c * float64(n-j) / float64(j)
		}
		sc.weight = append(sc.weight, 1/(float64(n)*math.Round(c)))
	}
	w := sc.weight
	clear(out[:len(ids)])
	add := func(p float64, members uint32, size int) {
		in := w[size-1] * p
		var notIn float64
		if size < n {
			notIn = w[size] * p
		}
		for k := range ids {
			if members&(1<<k) != 0 {
				out[k] += in
			} else {
				out[k] -= notIn
			}
		}
	}
	k := len(ids)
	if k < 31 && 1<<k <= len(t.seen) {
		for mask := uint32(1); mask < 1<<k; mask++ {
			sc.sub = sc.sub[:0]
			for b := range k {
				if mask&(1<<b) != 0 {
					sc.sub = append(sc.sub, ids[b])
				}
			}
			if j := t.lookup(sc.sub); j >= 0 && t.fit.Sets[j].P > 0 {
				add(t.fit.Sets[j].P, mask, len(sc.sub))
			}
		}
		return
	}
	if len(sc.local) < len(t.fit.Channels) {
		sc.local = make([]int32, len(t.fit.Channels))
		for i := range sc.local {
			sc.local[i] = -1
		}
	}
	for b, id := range ids {
		sc.local[id] = int32(b)
	}
next:
	for _, j := range t.seen {
		var mask uint32
		for _, id := range t.sets[j] {
			b := sc.local[id]
			if b < 0 {
				continue next
			}
			mask |= 1 << b
		}
		add(t.fit.Sets[j].P, mask, len(t.sets[j]))
	}
	for _, id := range ids {
		sc.local[id] = -1
	}
}
