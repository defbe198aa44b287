package attribution

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FitPath is one distinct fitting path: a sequence of channels, oldest
// first, and how many converting and non-converting ("null") paths of the
// training window had exactly that sequence. It is one row of the GROUP BY
// that ClickHouse returns for a fit.
type FitPath struct {
	Channels    []string `json:"channels"`
	Conversions uint64   `json:"conversions"`
	Nulls       uint64   `json:"nulls"`
}

// FitPaths is the input of FitMarkov and FitShapley: the distinct paths of
// the training window [FromMs, ToMs), epoch milliseconds. The order of Paths
// does not matter, and a sequence listed twice counts twice.
type FitPaths struct {
	FromMs int64     `json:"from_ms"`
	ToMs   int64     `json:"to_ms"`
	Paths  []FitPath `json:"paths"`
}

// canonicalPaths checks the paths and returns them with consecutive repeats
// of a channel collapsed, equal sequences merged, paths of zero count left
// out, sorted by sequence: the fits only ever see this form, so that they
// do not depend on the order or the grouping of their input.
func canonicalPaths(in FitPaths) ([]FitPath, error) {
	if in.ToMs < in.FromMs {
		return nil, fmt.Errorf("window: to (%d) is before from (%d)", in.ToMs, in.FromMs)
	}
	merged := make(map[string]int, len(in.Paths))
	var out []FitPath
	var key strings.Builder
	for i, p := range in.Paths {
		if len(p.Channels) == 0 {
			return nil, fmt.Errorf("paths[%d]: no channels", i)
		}
		if p.Conversions == 0 && p.Nulls == 0 {
			continue
		}
		if p.Conversions+p.Nulls < p.Conversions {
			return nil, fmt.Errorf("paths[%d]: counts overflow", i)
		}
		key.Reset()
		var chans []string
		for k, c := range p.Channels {
			if c == "" {
				return nil, fmt.Errorf("paths[%d]: channel %d is empty", i, k)
			}
			if k > 0 && c == p.Channels[k-1] {
				continue
			}
			chans = append(chans, c)
			key.WriteString(c)
			key.WriteByte(0)
		}
		if j, ok := merged[key.String()]; ok {
			q := &out[j]
			if q.Conversions+p.Conversions < q.Conversions || q.Nulls+p.Nulls < q.Nulls {
				return nil, fmt.Errorf("paths[%d]: counts overflow", i)
			}
			q.Conversions += p.Conversions
			q.Nulls += p.Nulls
			continue
		}
		merged[key.String()] = len(out)
		out = append(out, FitPath{Channels: chans, Conversions: p.Conversions, Nulls: p.Nulls})
	}
	if len(out) == 0 {
		return nil, errors.New("no paths: the window holds no touchpoints to fit on")
	}
	slices.SortFunc(out, func(a, b FitPath) int { return slices.Compare(a.Channels, b.Channels) })
	return out, nil
}

// FitPathsBuilder builds the fitting paths of a training window from
// attribution keys' events held in memory (replay), with the path rules of
// an Engine of the same Config:
//
//   - a converting path per conversion in [from, to): the channels of its
//     path under the click lookback and view-through windows (and, with
//     ResetOnConversion, after the key's previous conversion), in order;
//     conversions with an empty path are left out;
//   - a null path per key: its touchpoints after its last conversion before
//     to (all of them if it has none) that lie within the windows of a
//     conversion at to, touchpoints at or after to excluded; none when
//     that is empty.
//
// Consecutive touches of one channel are collapsed (the fits count them
// once), and equal sequences are counted together.
type FitPathsBuilder struct {
	e        *Engine
	from, to int64
	index    map[string]int
	paths    []FitPath
	chans    []string
	key      strings.Builder
	convs    []Conversion
}

// NewFitPathsBuilder validates cfg and returns a builder for the window
// [fromMs, toMs).
func NewFitPathsBuilder(cfg Config, fromMs, toMs int64) (*FitPathsBuilder, error) {
	if toMs < fromMs {
		return nil, fmt.Errorf("window: to (%d) is before from (%d)", toMs, fromMs)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	return &FitPathsBuilder{e: e, from: fromMs, to: toMs, index: map[string]int{}}, nil
}

// Add adds the paths of one attribution key: touchpoints deduplicated and
// sorted by (TimeMs, ID), as a Journey holds them, and its conversions in
// any order (a conversion ID seen twice counts once). It keeps neither
// slice.
func (b *FitPathsBuilder) Add(touchpoints []Touchpoint, conversions []Conversion) {
	convs := append(b.convs[:0], conversions...)
	slices.SortFunc(convs, func(x, y Conversion) int {
		return cmp.Or(cmp.Compare(x.TimeMs, y.TimeMs), strings.Compare(x.ID, y.ID))
	})
	// A conversion ID seen twice is one conversion: its earliest copy.
	seen := make(map[string]bool, len(convs))
	last := int64(NoReset)
	prev := int64(NoReset)
	for _, cv := range convs {
		if seen[cv.ID] || cv.TimeMs >= b.to {
			continue
		}
		seen[cv.ID] = true
		if cv.TimeMs >= b.from {
			after := int64(NoReset)
			if b.e.cfg.ResetOnConversion {
				after = prev
			}
			b.chans = b.chans[:0]
			lo := windowStart(cv.TimeMs, b.e.lookbackMs, after)
			for i := searchTime(touchpoints, lo); i < len(touchpoints) && touchpoints[i].TimeMs <= cv.TimeMs; i++ {
				if b.e.Window(&touchpoints[i], cv.TimeMs) {
					b.push(touchpoints[i].Channel)
				}
			}
			b.count(1, 0)
		}
		prev, last = cv.TimeMs, cv.TimeMs
	}
	b.convs = convs[:0]
	// The null path: after the last conversion, within the windows of a
	// conversion at to, before to.
	b.chans = b.chans[:0]
	lo := windowStart(b.to, b.e.lookbackMs, last)
	for i := searchTime(touchpoints, lo); i < len(touchpoints) && touchpoints[i].TimeMs < b.to; i++ {
		if b.e.Window(&touchpoints[i], b.to) {
			b.push(touchpoints[i].Channel)
		}
	}
	b.count(0, 1)
}

// windowStart is the earliest time a touchpoint of a path ending at convMs
// may have: the lookback's start, or just after the reset bound after.
func windowStart(convMs, lookbackMs, after int64) int64 {
	lo := convMs - lookbackMs
	if after != NoReset && after >= lo {
		lo = after + 1
	}
	return lo
}

func (b *FitPathsBuilder) push(channel string) {
	if n := len(b.chans); n > 0 && b.chans[n-1] == channel {
		return
	}
	b.chans = append(b.chans, channel)
}

// count adds the sequence in b.chans, if not empty.
func (b *FitPathsBuilder) count(conversions, nulls uint64) {
	if len(b.chans) == 0 {
		return
	}
	b.key.Reset()
	for _, c := range b.chans {
		b.key.WriteString(c)
		b.key.WriteByte(0)
	}
	i, ok := b.index[b.key.String()]
	if !ok {
		i = len(b.paths)
		b.index[b.key.String()] = i
		b.paths = append(b.paths, FitPath{Channels: slices.Clone(b.chans)})
	}
	b.paths[i].Conversions += conversions
	b.paths[i].Nulls += nulls
}

// FitPaths returns the paths added so far, sorted by sequence.
func (b *FitPathsBuilder) FitPaths() FitPaths {
	paths := slices.Clone(b.paths)
	slices.SortFunc(paths, func(x, y FitPath) int { return slices.Compare(x.Channels, y.Channels) })
	return FitPaths{FromMs: b.from, ToMs: b.to, Paths: paths}
}
