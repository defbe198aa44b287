package main

import (
	"reflect"
	"testing"
	"time"
)

func testConfig(n int) genConfig {
	return genConfig{Seed: 7, Conversions: n, Start: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), Days: 92, Reattributed: 0.10}
}

// The fill must write the same data on every run, so that the figures
// before and after a layout change are of the same conversions.
func TestGenDeterministic(t *testing.T) {
	cfg := testConfig(1000)
	for _, i := range []int{0, 1, 500, 999} {
		if a, b := gen(cfg, i), gen(cfg, i); !reflect.DeepEqual(a, b) {
			t.Fatalf("conversion %d differs between two calls:\n%+v\n%+v", i, a, b)
		}
	}
	if gen(cfg, 1).ID == gen(cfg, 2).ID {
		t.Fatal("two conversions share an id")
	}
}

// Versions see the path without its late touchpoints, one more per
// version, with a higher version number each; the last sees the whole path.
func TestGenVersions(t *testing.T) {
	cfg := testConfig(20_000)
	var reattributed, three, none int
	for i := 0; i < cfg.Conversions; i++ {
		c := gen(cfg, i)
		if len(c.Path) == 0 {
			none++
		}
		for k := 1; k < len(c.Path); k++ {
			if p, q := c.Path[k-1], c.Path[k]; p.TimeMs > q.TimeMs || p.TimeMs == q.TimeMs && p.ID >= q.ID {
				t.Fatalf("conversion %d: path not sorted by (time, id) at %d", i, k)
			}
		}
		for _, tp := range c.Path {
			if tp.TimeMs >= c.TimeMs || tp.TimeMs < c.TimeMs-30*dayMs {
				t.Fatalf("conversion %d: touchpoint at %d outside the 30-day window before %d", i, tp.TimeMs, c.TimeMs)
			}
		}
		if c.Versions() > 1 {
			reattributed++
		}
		if c.Versions() == 3 {
			three++
		}
		prev := uint32(0)
		for k := 0; k < c.Versions(); k++ {
			vis := c.visible(k, nil)
			if want := len(c.Path) - len(c.Late) + k; len(vis) != want {
				t.Fatalf("conversion %d version %d sees %d touchpoints, want %d", i, k, len(vis), want)
			}
			if v := c.Version(k); v <= prev {
				t.Fatalf("conversion %d: version %d numbered %d, not above %d", i, k, v, prev)
			} else {
				prev = v
			}
		}
		if got := c.visible(c.Versions()-1, nil); !reflect.DeepEqual(got, c.Path) && len(c.Path) > 0 {
			t.Fatalf("conversion %d: the last version does not see the whole path", i)
		}
	}
	share := float64(reattributed) / float64(cfg.Conversions)
	if share < 0.08 || share > 0.10 { // 10% of those with a touchpoint (95%)
		t.Errorf("re-attributed share %.3f, want about 0.095", share)
	}
	if three == 0 || three > reattributed/4 {
		t.Errorf("%d of %d re-attributed conversions have three versions, want some, under a quarter", three, reattributed)
	}
	if s := float64(none) / float64(cfg.Conversions); s < 0.04 || s > 0.06 {
		t.Errorf("share without touchpoints %.3f, want about 0.05", s)
	}
}

func TestGenSpread(t *testing.T) {
	cfg := testConfig(1000)
	first, last := gen(cfg, 0), gen(cfg, cfg.Conversions-1)
	start := cfg.Start.UnixMilli()
	if first.TimeMs < start || first.TimeMs > start+60_000 {
		t.Errorf("first conversion at %d, want within a minute of %d", first.TimeMs, start)
	}
	end := start + int64(cfg.Days)*dayMs
	if last.TimeMs >= end || last.TimeMs < end-dayMs {
		t.Errorf("last conversion at %d, want on the last day before %d", last.TimeMs, end)
	}
}

func TestMedianLog(t *testing.T) {
	got := medianLog([]logEntry{{durationMs: 30, readRows: 3}, {durationMs: 10, readRows: 1}, {durationMs: 20, readRows: 2}, {durationMs: 40, readRows: 4}})
	if got.readRows != 2 {
		t.Errorf("median entry has readRows %d, want 2 (the lower middle by duration)", got.readRows)
	}
}
