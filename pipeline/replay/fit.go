package replay

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// FitInputs fits the data-driven models of cfg.Attribution (markov of
// order markovOrder, shapley) on the events of the inputs, so that a replay
// is self-contained: the training window starts at the earliest event time
// in them and ends just after the latest (latest + 1 ms), so every
// conversion of the inputs is a converting path and every key's touchpoints
// after its last conversion a null path (see attribution.FitPathsBuilder).
// Touchpoints are deduplicated by event_id (the earliest copy wins, as in
// replay), conversions too. The result does not depend on the order of the
// lines. It holds every valid event in memory, and reports nothing about
// invalid lines (the replay that follows does). The fits' ids are
// "<model>[-o<order>]-replay-<first 12 hex digits of the SHA-256 of the
// fit>", the same for the same events. It returns zero Fits when cfg asks
// for no data-driven model.
func FitInputs(ctx context.Context, cfg Config, touchpoints, conversions Input, markovOrder int) (attribution.Fits, error) {
	var out attribution.Fits
	cfg = cfg.WithDefaults()
	var want []string
	for _, m := range cfg.Attribution.Models {
		if slices.Contains(attribution.DataDrivenModelNames, m) {
			want = append(want, m)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	dec := schemas.NewDecoder(cfg.ChannelRules)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers sync.WaitGroup
	defer readers.Wait()
	defer cancel()
	// What the replay leaves out (invalid, future) is left out of the fit.
	decodeTP, decodeCV := cfg.decoders(dec)
	var invalid int64
	tps := startSource(ctx, &readers, touchpoints, decodeTP, io.Discard, 0, &invalid, &invalid)
	cvs := startSource(ctx, &readers, conversions, decodeCV, io.Discard, 0, &invalid, &invalid)

	type key struct {
		tps   map[string]attribution.Touchpoint
		convs map[string]attribution.Conversion
	}
	keys := map[string]*key{}
	get := func(k string) *key {
		if keys[k] == nil {
			keys[k] = &key{tps: map[string]attribution.Touchpoint{}, convs: map[string]attribution.Conversion{}}
		}
		return keys[k]
	}
	from, to := int64(math.MaxInt64), int64(math.MinInt64)
	seen := func(ms int64) { from, to = min(from, ms), max(to, ms) }
	for {
		tp, ok, err := tps.next()
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		k := get(cfg.Links.Key(tp.UserID, tp.AnonymousID))
		at := attribution.Touchpoint{ID: tp.EventID, TimeMs: tp.TimeMs, Impression: tp.Interaction == schemas.InteractionImpression,
			Channel: tp.Channel, Source: tp.Source, Medium: tp.Medium, Campaign: tp.Campaign}
		if old, dup := k.tps[tp.EventID]; !dup || at.TimeMs < old.TimeMs {
			k.tps[tp.EventID] = at
		}
		seen(tp.TimeMs)
	}
	for {
		cv, ok, err := cvs.next()
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		k := get(cfg.Links.Key(cv.UserID, cv.AnonymousID))
		c := attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros}
		if old, dup := k.convs[cv.EventID]; !dup || c.TimeMs < old.TimeMs {
			k.convs[cv.EventID] = c
		}
		seen(cv.TimeMs)
	}
	if len(keys) == 0 {
		return out, errors.New("fit: the inputs hold no valid events to fit on")
	}
	b, err := attribution.NewFitPathsBuilder(cfg.Attribution, from, to+1)
	if err != nil {
		return out, err
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	var path []attribution.Touchpoint
	var convs []attribution.Conversion
	for _, name := range names {
		k := keys[name]
		path = path[:0]
		for _, tp := range k.tps {
			path = append(path, tp)
		}
		slices.SortFunc(path, func(x, y attribution.Touchpoint) int {
			return cmp.Or(cmp.Compare(x.TimeMs, y.TimeMs), strings.Compare(x.ID, y.ID))
		})
		convs = convs[:0]
		for _, c := range k.convs {
			convs = append(convs, c)
		}
		b.Add(path, convs)
	}
	paths := b.FitPaths()
	for _, m := range want {
		switch m {
		case "markov":
			f, err := attribution.FitMarkov(paths, markovOrder)
			if err != nil {
				return out, fmt.Errorf("fit markov: %w", err)
			}
			f.ID, err = replayFitID("markov-o"+strconv.Itoa(markovOrder), f)
			if err != nil {
				return out, err
			}
			out.Markov = f
		case "shapley":
			f, err := attribution.FitShapley(paths)
			if err != nil {
				return out, fmt.Errorf("fit shapley: %w", err)
			}
			f.ID, err = replayFitID("shapley", f)
			if err != nil {
				return out, err
			}
			out.Shapley = f
		}
	}
	return out, nil
}

func replayFitID(name string, f any) (string, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return name + "-replay-" + hex.EncodeToString(sum[:6]), nil
}
