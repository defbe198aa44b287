package attribution

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Bounds of a Markov fit.
const (
	MinMarkovOrder = 1
	MaxMarkovOrder = 4
	// MaxMarkovStates bounds the states of a fit: the solve holds a dense
	// matrix of that many rows (8192² float64 = 512 MiB).
	MaxMarkovStates = 8192
)

// FitSummary is what every fit records about itself and its input.
type FitSummary struct {
	// ID names the fit once it is stored; the fitting functions leave it
	// empty and whoever stores the fit sets it. Credited rows of a
	// data-driven model carry it.
	ID            string   `json:"id,omitempty"`
	Model         string   `json:"model"`          // "markov" or "shapley"
	FromMs        int64    `json:"from_ms"`        // training window [from, to), epoch ms
	ToMs          int64    `json:"to_ms"`          //
	DistinctPaths int      `json:"distinct_paths"` // after collapsing repeated channels
	Paths         uint64   `json:"paths"`          // converting + null paths
	Conversions   uint64   `json:"conversions"`    // converting paths
	Nulls         uint64   `json:"nulls"`          // non-converting paths
	Channels      []string `json:"channels"`       // every channel of the paths, sorted
	Warnings      []string `json:"warnings,omitempty"`
}

func summarize(model string, in FitPaths, paths []FitPath) (FitSummary, error) {
	s := FitSummary{Model: model, FromMs: in.FromMs, ToMs: in.ToMs, DistinctPaths: len(paths)}
	seen := map[string]bool{}
	for _, p := range paths {
		s.Conversions += p.Conversions
		s.Nulls += p.Nulls
		for _, c := range p.Channels {
			if !seen[c] {
				seen[c] = true
				s.Channels = append(s.Channels, c)
			}
		}
	}
	s.Paths = s.Conversions + s.Nulls
	if s.Paths < s.Conversions {
		return s, errors.New("paths: counts overflow")
	}
	if s.Conversions == 0 {
		return s, fmt.Errorf("no conversions in the window: %d non-converting paths and not one converting path, nothing to fit", s.Nulls)
	}
	slices.Sort(s.Channels)
	if len(s.Channels) == 1 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("one channel only (%s): it takes every conversion's credit, split evenly over its touchpoints, as linear does", s.Channels[0]))
	}
	return s, nil
}

// MarkovFit is a fitted k-order Markov chain of the paths, and the removal
// effect of each channel. It is a value: serialisable as JSON, never
// changed after fitting, safe to share between engines.
type MarkovFit struct {
	FitSummary
	Order int `json:"order"`
	// Start holds the transitions out of (start), to States by index.
	Start []MarkovEdge `json:"start"`
	// States are the chain's transient states, sorted by Channels.
	States []MarkovState `json:"states"`
	// P is the probability of absorption in (conversion) from (start).
	P float64 `json:"p"`
	// Effects has one entry per channel of Channels, in that order.
	Effects []MarkovEffect `json:"effects"`
}

// MarkovState is a state of the chain: the last Order distinct-in-a-row
// channels, oldest first (fewer at the start of a path), and the counted
// transitions out of it.
type MarkovState struct {
	Channels    []string     `json:"channels"`
	Next        []MarkovEdge `json:"next"`
	Conversions uint64       `json:"conversions"` // transitions to (conversion)
	Nulls       uint64       `json:"nulls"`       // transitions to (null)
}

// MarkovEdge is a counted transition to the state of index To.
type MarkovEdge struct {
	To    int    `json:"to"`
	Count uint64 `json:"count"`
}

// MarkovEffect is a channel's removal effect.
type MarkovEffect struct {
	Channel string `json:"channel"`
	// PWithout is P with every state that contains the channel sent to
	// (null).
	PWithout float64 `json:"p_without"`
	// RemovalEffect is 1 − PWithout/P, in [0, 1].
	RemovalEffect float64 `json:"removal_effect"`
	// Share is max(RemovalEffect, 0) over the sum of all channels' (the
	// "removal-effect share" other tools report).
	Share float64 `json:"share"`
}

// FitMarkov fits the order-k chain of the paths and solves it exactly for
// P and every channel's P₋c (see chain.absorption). It fails on an order
// outside 1–4, on no paths, on no conversions, and on a chain of more than
// MaxMarkovStates states; a single channel is fitted (its removal effect is
// 1) with a warning. The result does not depend on the order of in.Paths.
func FitMarkov(in FitPaths, order int) (*MarkovFit, error) {
	if order < MinMarkovOrder || order > MaxMarkovOrder {
		return nil, fmt.Errorf("markov order: must be in [%d, %d], got %d", MinMarkovOrder, MaxMarkovOrder, order)
	}
	paths, err := canonicalPaths(in)
	if err != nil {
		return nil, err
	}
	sum, err := summarize("markov", in, paths)
	if err != nil {
		return nil, err
	}
	id := make(map[string]int32, len(sum.Channels))
	for i, c := range sum.Channels {
		id[c] = int32(i + 1) // 0 is "no channel" in a state key
	}

	// Walk the paths: number the states in first-seen order, count the
	// transitions.
	type stateKey [MaxMarkovOrder]int32
	type edgeKey struct{ from, to int32 } // from -1: (start)
	stateIndex := map[stateKey]int32{}
	var keys []stateKey
	edges := map[edgeKey]uint64{}
	var conv, null []uint64
	for _, p := range paths {
		n := p.Conversions + p.Nulls
		var k stateKey
		from := int32(-1)
		for _, c := range p.Channels {
			copy(k[:order-1], k[1:order])
			k[order-1] = id[c]
			s, ok := stateIndex[k]
			if !ok {
				s = int32(len(keys))
				stateIndex[k] = s
				keys = append(keys, k)
				conv, null = append(conv, 0), append(null, 0)
			}
			edges[edgeKey{from, s}] += n
			from = s
		}
		conv[from] += p.Conversions
		null[from] += p.Nulls
	}
	if len(keys) > MaxMarkovStates {
		return nil, fmt.Errorf("markov order %d: the paths make %d states, more than the %d a fit may hold: use a lower order", order, len(keys), MaxMarkovStates)
	}

	// Renumber the states by their channels, so that the fit does not
	// depend on the order of the paths.
	names := func(k stateKey) []string {
		var out []string
		for _, c := range k[:order] {
			if c != 0 {
				out = append(out, sum.Channels[c-1])
			}
		}
		return out
	}
	perm := make([]int, len(keys)) // new index -> old
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int { return slices.Compare(names(keys[a]), names(keys[b])) })
	renum := make([]int, len(keys)) // old -> new
	for n, o := range perm {
		renum[o] = n
	}
	f := &MarkovFit{FitSummary: sum, Order: order, States: make([]MarkovState, len(keys))}
	for n, o := range perm {
		f.States[n] = MarkovState{Channels: names(keys[o]), Next: []MarkovEdge{}, Conversions: conv[o], Nulls: null[o]}
	}
	for e, cnt := range edges {
		edge := MarkovEdge{To: renum[e.to], Count: cnt}
		if e.from < 0 {
			f.Start = append(f.Start, edge)
		} else {
			st := &f.States[renum[e.from]]
			st.Next = append(st.Next, edge)
		}
	}
	byTo := func(a, b MarkovEdge) int { return a.To - b.To }
	slices.SortFunc(f.Start, byTo)
	for i := range f.States {
		slices.SortFunc(f.States[i].Next, byTo)
	}
	if err := f.solve(); err != nil {
		return nil, err
	}
	return f, nil
}

// chain builds the absorbing chain of the fit's transition table.
func (f *MarkovFit) chain() *chain {
	c := &chain{n: len(f.States), next: make([][]chainEdge, len(f.States)), conv: make([]uint64, len(f.States)), out: make([]uint64, len(f.States))}
	for _, e := range f.Start {
		c.start = append(c.start, chainEdge{e.To, e.Count})
		c.startOut += e.Count
	}
	for s, st := range f.States {
		c.conv[s] = st.Conversions
		c.out[s] = st.Conversions + st.Nulls
		for _, e := range st.Next {
			c.next[s] = append(c.next[s], chainEdge{e.To, e.Count})
			c.out[s] += e.Count
		}
	}
	c.setOrder()
	return c
}

// solve computes P and the effects from the transition table.
func (f *MarkovFit) solve() error {
	c := f.chain()
	var buf []float64
	f.P = min(max(c.absorption(nil, &buf), 0), 1)
	if !(f.P > 0) {
		return errors.New("markov: P = 0: no path of the chain reaches (conversion)")
	}
	contains := make([]bool, len(f.States))
	f.Effects = make([]MarkovEffect, len(f.Channels))
	var total float64
	for i, ch := range f.Channels {
		for s := range f.States {
			contains[s] = slices.Contains(f.States[s].Channels, ch)
		}
		pw := min(max(c.absorption(func(s int) bool { return contains[s] }, &buf), 0), f.P)
		re := 1 - pw/f.P
		f.Effects[i] = MarkovEffect{Channel: ch, PWithout: pw, RemovalEffect: re}
		total += max(re, 0)
	}
	for i := range f.Effects {
		if total > 0 {
			f.Effects[i].Share = max(f.Effects[i].RemovalEffect, 0) / total
		}
	}
	return nil
}

// Validate checks what applying the fit relies on, for a fit loaded from
// storage: the model's name, the order, one finite effect per channel.
func (f *MarkovFit) Validate() error {
	if f.Model != "markov" {
		return fmt.Errorf("markov fit: model is %q", f.Model)
	}
	if f.Order < MinMarkovOrder || f.Order > MaxMarkovOrder {
		return fmt.Errorf("markov fit: order %d outside [%d, %d]", f.Order, MinMarkovOrder, MaxMarkovOrder)
	}
	return validEffects("markov fit", len(f.Effects), func(i int) (string, float64) {
		return f.Effects[i].Channel, f.Effects[i].RemovalEffect
	})
}

func validEffects(what string, n int, at func(i int) (string, float64)) error {
	if n == 0 {
		return fmt.Errorf("%s: no channel effects", what)
	}
	seen := map[string]bool{}
	for i := range n {
		ch, v := at(i)
		if ch == "" || seen[ch] {
			return fmt.Errorf("%s: effects[%d]: channel %q empty or listed twice", what, i, ch)
		}
		seen[ch] = true
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: effects[%d] (%s): %v is not a number", what, i, ch, v)
		}
	}
	return nil
}

// String names the state as "a > b > c".
func (s MarkovState) String() string { return strings.Join(s.Channels, " > ") }
