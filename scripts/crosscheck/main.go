// Command crosscheck makes the fitting paths of generated traffic and our
// order-1 Markov fit of them, for scripts/crosscheck_markov.sh to compare
// with ChannelAttribution's markov_model:
//
//	go run ./scripts/crosscheck -users 100000 -out /tmp/crosscheck
//
// It writes paths.csv into the -out directory (path,total_conversions,
// total_null: one row per distinct path, channels joined by " > ", as
// ChannelAttribution reads them) and fit.json (attribution.FitMarkov of
// the same paths).
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/schemas"
)

func main() {
	users := flag.Int("users", 100_000, "generated `users`")
	seed := flag.Int64("seed", 15, "traffic `seed`")
	days := flag.Int("days", 30, "traffic span in `days`")
	order := flag.Int("order", 1, "markov `order` of fit.json")
	out := flag.String("out", "", "output `directory`")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "crosscheck: -out is required")
		os.Exit(2)
	}
	if err := run(*users, *seed, *days, *order, *out); err != nil {
		fmt.Fprintln(os.Stderr, "crosscheck:", err)
		os.Exit(1)
	}
}

func run(users int, seed int64, days, order int, out string) error {
	type key struct {
		tps   attribution.Journey
		convs []attribution.Conversion
	}
	keys := map[string]*key{}
	var keyOrder []string // keys in first-seen order: the output must not depend on map order
	get := func(k string) *key {
		if v := keys[k]; v != nil {
			return v
		}
		v := &key{}
		keys[k] = v
		keyOrder = append(keyOrder, k)
		return v
	}
	dec := schemas.NewDecoder(nil)
	var first, last int64 = 1<<63 - 1, -1 << 63
	err := generate.Generate(generate.Config{Seed: seed, Users: users, Duration: time.Duration(days) * 24 * time.Hour},
		func(kind generate.Kind, _ string, value []byte) error {
			switch kind {
			case generate.Touchpoint:
				tp, err := dec.Touchpoint(value)
				if err != nil {
					return err
				}
				get(tp.Key()).tps.Add(attribution.Touchpoint{ID: tp.EventID, TimeMs: tp.TimeMs,
					Impression: tp.Interaction == schemas.InteractionImpression, Channel: tp.Channel})
				first, last = min(first, tp.TimeMs), max(last, tp.TimeMs)
			case generate.Conversion:
				cv, err := dec.Conversion(value)
				if err != nil {
					return err
				}
				k := get(cv.Key())
				k.convs = append(k.convs, attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros})
				first, last = min(first, cv.TimeMs), max(last, cv.TimeMs)
			}
			return nil
		})
	if err != nil {
		return err
	}
	// The window is the whole traffic: to is just after its last event.
	b, err := attribution.NewFitPathsBuilder(attribution.Config{}, first, last+1)
	if err != nil {
		return err
	}
	for _, k := range keyOrder {
		v := keys[k]
		b.Add(v.tps.Touchpoints(), v.convs)
	}
	paths := b.FitPaths()
	fit, err := attribution.FitMarkov(paths, order)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "paths.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"path", "total_conversions", "total_null"})
	for _, p := range paths.Paths {
		w.Write([]string{strings.Join(p.Channels, " > "), strconv.FormatUint(p.Conversions, 10), strconv.FormatUint(p.Nulls, 10)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	j, err := json.MarshalIndent(fit, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "fit.json"), j, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crosscheck: %d users, %d distinct paths, %d conversions, %d null paths, %d states\n",
		users, fit.DistinctPaths, fit.Conversions, fit.Nulls, len(fit.States))
	return nil
}
