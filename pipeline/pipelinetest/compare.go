package pipelinetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

// Replay returns the credited rows that replay computes from ev (invalid
// messages are skipped, as the attributor dead-letters them): the reference
// the pipeline's view must equal. When ev has identity events it stitches
// (ReplayStitched), as the attributor does with an identities topic.
func Replay(t testing.TB, ev Events, cfg replay.Config) []schemas.CreditedRow {
	t.Helper()
	if len(ev.Identities) > 0 {
		rows, _ := ReplayStitched(t, ev, cfg)
		return rows
	}
	return replayRows(t, ev, cfg)
}

// ReplayStitched is Replay with identity stitching, as `attributor replay
// --identities` does it: a link pass over the identity events of ev and
// its touchpoints and conversions that carry both ids (replay.LinkPass),
// then the replay keyed by the links (replay.Config.Links). It also
// returns what the link pass counted (devices linked, conflicts). ev may
// have no identity events: the links then come from the events with both
// ids alone.
func ReplayStitched(t testing.TB, ev Events, cfg replay.Config) ([]schemas.CreditedRow, replay.LinkStats) {
	t.Helper()
	tab, st, err := replay.LinkPass(context.Background(), cfg,
		replay.Input{Name: "identities", R: ndjson(ev.Identities)},
		replay.Input{Name: "touchpoints", R: ndjson(ev.Touchpoints)},
		replay.Input{Name: "conversions", R: ndjson(ev.Conversions)}, io.Discard)
	if err != nil {
		t.Fatalf("replay link pass: %v", err)
	}
	cfg.Links = tab
	return replayRows(t, ev, cfg), st
}

func replayRows(t testing.TB, ev Events, cfg replay.Config) []schemas.CreditedRow {
	t.Helper()
	var rows []schemas.CreditedRow
	sink := replay.RowSinkFunc(func(r *schemas.CreditedRow) error { rows = append(rows, *r); return nil })
	_, err := replay.Run(context.Background(), cfg,
		replay.Input{Name: "touchpoints", R: ndjson(ev.Touchpoints)},
		replay.Input{Name: "conversions", R: ndjson(ev.Conversions)},
		sink, io.Discard)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if len(rows) == 0 {
		t.Fatal("replay: no credited rows; the comparison would prove nothing")
	}
	return rows
}

func ndjson(msgs []Msg) io.Reader {
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m.Value)
		b.WriteByte('\n')
	}
	return &b
}

// RowString prints every compared column of a row, credit with all its
// digits.
func RowString(r schemas.CreditedRow) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%d|%d|%d|%d|%s",
		r.ConversionID, r.ConversionType, r.UserKey, r.Model, r.TouchpointID, r.Channel, r.Source, r.Medium,
		r.Campaign, r.Interaction, fmt.Sprint(r.Credit), schemas.FormatMicros(r.RevenueMicros), r.Currency,
		r.TouchpointTimeMs, r.ConversionTimeMs, r.Position, r.PathLength, r.FitID)
}

// Diff compares two sets of rows as multisets over every column (credit by
// exact float equality) and returns "" when they are equal, else a report
// of the rows only one side has, grouped by conversion and model, at most
// max groups.
func Diff(want, got []schemas.CreditedRow, max int) string {
	count := map[schemas.CreditedRow]int{}
	for _, r := range want {
		count[r]++
	}
	for _, r := range got {
		count[r]--
	}
	type group struct{ missing, extra []string }
	groups := map[string]*group{}
	var keys []string
	for r, n := range count {
		if n == 0 {
			continue
		}
		k := r.ConversionID + " " + r.Model
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			keys = append(keys, k)
		}
		for ; n > 0; n-- {
			g.missing = append(g.missing, RowString(r))
		}
		for ; n < 0; n++ {
			g.extra = append(g.extra, RowString(r))
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows wanted, %d got; %d (conversion, model) pairs differ. Columns: conversion_id|conversion_type|user_key|model|touchpoint_id|channel|source|medium|campaign|interaction|credit|revenue|currency|touchpoint_ms|conversion_ms|position|path_length\n",
		len(want), len(got), len(keys))
	for i, k := range keys {
		if i == max {
			fmt.Fprintf(&b, "... and %d more pairs\n", len(keys)-max)
			break
		}
		g := groups[k]
		sort.Strings(g.missing)
		sort.Strings(g.extra)
		fmt.Fprintf(&b, "%s:\n", k)
		for _, s := range g.missing {
			fmt.Fprintf(&b, "  - want %s\n", s)
		}
		for _, s := range g.extra {
			fmt.Fprintf(&b, "  + got  %s\n", s)
		}
	}
	return b.String()
}

// CheckInvariants reports, on t, a (conversion_id, model, touchpoint_id)
// that appears twice, and a (conversion, model) whose revenue shares do not
// sum exactly to the conversion's revenue (revenues by event_id, as
// Revenues returns).
func CheckInvariants(t testing.TB, rows []schemas.CreditedRow, revenues map[string]int64) {
	t.Helper()
	type key struct{ conv, model, tp string }
	seen := map[key]bool{}
	sums := map[[2]string]int64{}
	dups := 0
	for _, r := range rows {
		k := key{r.ConversionID, r.Model, r.TouchpointID}
		if seen[k] {
			if dups++; dups <= 10 {
				t.Errorf("duplicate credited row (conversion %s, model %s, touchpoint %q)", k.conv, k.model, k.tp)
			}
		}
		seen[k] = true
		sums[[2]string{r.ConversionID, r.Model}] += r.RevenueMicros
	}
	if dups > 10 {
		t.Errorf("... %d duplicate credited rows in all", dups)
	}
	bad := 0
	for k, sum := range sums {
		want, ok := revenues[k[0]]
		if !ok {
			t.Errorf("credited conversion %s is not among the valid conversions produced", k[0])
			continue
		}
		if sum != want {
			if bad++; bad <= 10 {
				t.Errorf("conversion %s, model %s: revenue shares sum to %s, want %s", k[0], k[1], schemas.FormatMicros(sum), schemas.FormatMicros(want))
			}
		}
	}
}

// Conversions returns the distinct conversion ids of rows.
func Conversions(rows []schemas.CreditedRow) map[string]bool {
	out := map[string]bool{}
	for _, r := range rows {
		out[r.ConversionID] = true
	}
	return out
}
