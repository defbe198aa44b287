package pipeline_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
)

// lateHorizon is the re-attribution horizon of the late-data tests; the
// orders below move no event by more than lateShift, well within it.
const (
	lateHorizon = 6 * time.Hour
	lateShift   = 2 * time.Hour
	lateBatches = 10
)

// lateConfig makes conversions wait as little as possible for the
// watermark (1ms), so that a touchpoint produced after its conversion
// really arrives after the conversion was credited.
func lateConfig(env *pipelinetest.Env) pipeline.Config {
	cfg := env.Config()
	cfg.AllowedLateness = time.Millisecond
	cfg.Horizon = lateHorizon
	return cfg
}

// arrival is an order in which the same events reach the attributor.
type arrival struct {
	name string
	// arrange returns the messages in produce order.
	arrange func(rng *rand.Rand, msgs []pipelinetest.Stamped) []pipelinetest.Stamped
	// reattributes: the order makes touchpoints arrive after conversions
	// they belong to were credited.
	reattributes bool
}

// sortedBy returns msgs stably sorted by key.
func sortedBy(msgs []pipelinetest.Stamped, key func(i int, m pipelinetest.Stamped) int64) []pipelinetest.Stamped {
	type keyed struct {
		k int64
		m pipelinetest.Stamped
	}
	ks := make([]keyed, len(msgs))
	for i, m := range msgs {
		ks[i] = keyed{key(i, m), m}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return cmp.Compare(a.k, b.k) })
	out := make([]pipelinetest.Stamped, len(ks))
	for i := range ks {
		out[i] = ks[i].m
	}
	return out
}

func arrivals() []arrival {
	shift := lateShift.Milliseconds()
	hour := time.Hour.Milliseconds()
	return []arrival{
		{
			// Every conversion is credited before any touchpoint exists:
			// first to "(none)", then again as each touchpoint arrives.
			name: "conversions first",
			arrange: func(_ *rand.Rand, msgs []pipelinetest.Stamped) []pipelinetest.Stamped {
				return sortedBy(msgs, func(_ int, m pipelinetest.Stamped) int64 {
					if m.Conversion {
						return m.TimeMs
					}
					return m.TimeMs + 1<<50
				})
			},
			reattributes: true,
		},
		{
			// Every conversion arrives late, after the watermark passed it:
			// it is credited normally, with the whole path.
			name: "touchpoints first",
			arrange: func(_ *rand.Rand, msgs []pipelinetest.Stamped) []pipelinetest.Stamped {
				return sortedBy(msgs, func(_ int, m pipelinetest.Stamped) int64 {
					if m.Conversion {
						return m.TimeMs + 1<<50
					}
					return m.TimeMs
				})
			},
		},
		{
			name: "shuffled within the horizon",
			arrange: func(rng *rand.Rand, msgs []pipelinetest.Stamped) []pipelinetest.Stamped {
				return sortedBy(msgs, func(_ int, m pipelinetest.Stamped) int64 { return m.TimeMs + rng.Int64N(shift) })
			},
			reattributes: true,
		},
		{
			name: "each hour backwards",
			arrange: func(_ *rand.Rand, msgs []pipelinetest.Stamped) []pipelinetest.Stamped {
				return sortedBy(msgs, func(_ int, m pipelinetest.Stamped) int64 { return m.TimeMs/hour*hour + (hour - 1 - m.TimeMs%hour) })
			},
			reattributes: true,
		},
		{
			// Every conversion and a fifth of the touchpoints twice, the
			// copies shuffled in up to lateShift later.
			name: "duplicates interleaved",
			arrange: func(rng *rand.Rand, msgs []pipelinetest.Stamped) []pipelinetest.Stamped {
				var all []pipelinetest.Stamped
				for _, m := range msgs {
					all = append(all, m)
					if m.Conversion || rng.IntN(5) == 0 {
						all = append(all, m)
					}
				}
				return sortedBy(all, func(_ int, m pipelinetest.Stamped) int64 { return m.TimeMs + rng.Int64N(shift) })
			},
			reattributes: true,
		},
	}
}

// The same events, produced in very different orders (conversions before
// their touchpoints, touchpoints before their conversions, shuffled within
// the horizon, backwards, with duplicates interleaved) and consumed while
// they are produced, always end in exactly the credited rows that replay
// computes from the deduplicated events in time order. Touchpoints that
// arrive after their conversion was credited re-attribute it: the new rows
// carry a higher version and the superseded rows are no longer visible.
// Duplicates change nothing; late conversions are credited normally.
func TestLateDataReattributesInAnyOrder(t *testing.T) {
	base := pipelinetest.Generate(t, generate.Config{Seed: 41, Events: 12_000})
	want := base.Reference()
	for i, a := range arrivals() {
		t.Run(a.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(41, uint64(i)))
			order := a.arrange(rng, base.Stamp())
			produced := pipelinetest.Unstamp(order)

			env := pipelinetest.New(t, pipelinetest.Options{})
			keepVersions(t, env)
			r := pipelinetest.StartRunner(t, lateConfig(env))
			produceInBatches(t, env, r, order, lateBatches)
			env.WaitCommitted(time.Minute)
			if err := r.Stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			s := r.Snapshot()
			t.Logf("%d messages: %d attributed, %d re-attributed, %d duplicates, %d credited rows written",
				len(order), s.Attributed, s.Reattributed, s.Duplicates, s.CreditedRows)

			equalReplay(t, env, want)
			if a.reattributes && s.Reattributed == 0 {
				t.Error("no conversion was re-attributed: the order did not make touchpoints arrive late")
			}
			if a.reattributes {
				if n := supersededConversions(t, env); n == 0 {
					t.Error("no conversion has more than one version in attributed_conversions: nothing was replaced")
				} else {
					t.Logf("%d conversions have superseded versions, none of them visible", n)
				}
			}
			if want := int64(produced.Repeats()); s.Duplicates != want {
				t.Errorf("%d duplicates counted, want %d (the repeated messages produced)", s.Duplicates, want)
			}
			if s.DeadLetters != 0 || s.TooLate != 0 || s.Invalid != 0 {
				t.Errorf("valid events within the horizon: %d dead letters, %d too late, %d invalid; want none", s.DeadLetters, s.TooLate, s.Invalid)
			}
			if dl := env.DeadLetters(); len(dl) != 0 {
				t.Errorf("the dead-letter topic holds %d records, want none", len(dl))
			}
		})
	}
}

// A touchpoint older than the partition's watermark by more than the
// horizon is stored raw, counted as too late and dead-lettered with reason
// too_late, its bytes and key intact; it re-attributes nothing. A late
// touchpoint within the horizon still re-attributes.
func TestTouchpointBeyondHorizonIsDeadLettered(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	t0 := generate.DefaultStart.Add(10 * time.Hour)
	at := func(d time.Duration) string { return t0.Add(d).UTC().Format(time.RFC3339Nano) }
	tp := func(id, user string, d time.Duration) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(user), Value: []byte(`{"event_id":"` + id + `","user_id":"` + user + `","timestamp":"` + at(d) + `","source":"google","medium":"cpc"}`)}
	}
	cv := func(id, user string, d time.Duration) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(user), Value: []byte(`{"event_id":"` + id + `","user_id":"` + user + `","timestamp":"` + at(d) + `","revenue":10,"currency":"EUR"}`)}
	}
	// Before: a converts at 0:10 after a touchpoint at 0:00; b converts at
	// 2:45; c's touchpoint moves the watermark to 3:00.
	first := pipelinetest.Events{
		Touchpoints: []pipelinetest.Msg{tp("a-tp1", "a", 0), tp("c-tp1", "c", 3*time.Hour)},
		Conversions: []pipelinetest.Msg{cv("a-cv", "a", 10*time.Minute), cv("b-cv", "b", 2*time.Hour+45*time.Minute)},
	}
	tooLate := tp("a-tp-late", "a", 5*time.Minute)           // 2:55 behind the watermark: beyond the 1h horizon
	late := tp("b-tp-late", "b", 2*time.Hour+30*time.Minute) // 0:30 behind: within it
	then := pipelinetest.Events{Touchpoints: []pipelinetest.Msg{tooLate, late}}

	cfg := env.Config()
	cfg.AllowedLateness = time.Millisecond
	cfg.Horizon = time.Hour
	r := pipelinetest.StartRunner(t, cfg)
	env.ProduceEvents(first)
	r.WaitSnapshot(time.Minute, "both conversions credited", func(s pipeline.Snapshot) bool { return s.Attributed == 2 && s.Touchpoints == 2 })
	env.ProduceEvents(then)
	env.WaitCommitted(time.Minute)
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := r.Snapshot()
	if s.TooLate != 1 || s.DeadLetters != 1 || s.Invalid != 0 {
		t.Errorf("counters: %d too late, %d dead letters, %d invalid; want 1, 1, 0", s.TooLate, s.DeadLetters, s.Invalid)
	}
	if s.Reattributed != 1 {
		t.Errorf("counters: %d re-attributed, want 1 (b-cv, by the late touchpoint within the horizon)", s.Reattributed)
	}

	// Credited as if the too-late touchpoint had never come.
	equalReplay(t, env, first.With(pipelinetest.Events{Touchpoints: []pipelinetest.Msg{late}}).Reference())
	for _, row := range env.Credited() {
		if row.TouchpointID == "a-tp-late" {
			t.Errorf("the too-late touchpoint is credited: %s", pipelinetest.RowString(row))
		}
	}
	// Stored raw all the same.
	var n uint64
	if err := env.CH.QueryRow(t.Context(), "SELECT count() FROM "+env.Database+".touchpoints WHERE event_id = 'a-tp-late'").Scan(&n); err != nil || n == 0 {
		t.Errorf("the too-late touchpoint is not in the touchpoints table (count %d, err %v)", n, err)
	}

	dead := env.DeadLetters()
	if len(dead) != 1 {
		t.Fatalf("the dead-letter topic holds %d records, want 1", len(dead))
	}
	m := dead[0]
	h := pipelinetest.Headers(m)
	if h["attributor.reason"] != "too_late" {
		t.Errorf("dead letter: attributor.reason %q, want too_late", h["attributor.reason"])
	}
	if h["attributor.error"] == "" {
		t.Error("dead letter: no attributor.error")
	}
	if string(m.Value) != string(tooLate.Value) || string(m.Key) != string(tooLate.Key) {
		t.Errorf("dead letter: key %q value %q; want the original %q %q", m.Key, m.Value, tooLate.Key, tooLate.Value)
	}
	src := pipelinetest.SourceOf(t, m)
	if src.Topic != env.Touchpoints {
		t.Errorf("dead letter: source topic %q, want %q", src.Topic, env.Touchpoints)
	}
	if orig := env.ReadAt(src.Topic, src.Partition, src.Offset); string(orig.Value) != string(tooLate.Value) {
		t.Errorf("dead letter: its source %s holds %q", src, orig.Value)
	}
}

// produceInBatches produces msgs in n consecutive batches, each only once
// the Runner consumed the previous one and credited what it could: the
// order of the batches is the order of arrival.
func produceInBatches(t *testing.T, env *pipelinetest.Env, r *pipelinetest.Running, msgs []pipelinetest.Stamped, n int) {
	t.Helper()
	base := pipelinetest.Consumed(r.Snapshot())
	for i := range n {
		lo, hi := i*len(msgs)/n, (i+1)*len(msgs)/n
		env.ProduceEvents(pipelinetest.Unstamp(msgs[lo:hi]))
		want := base + int64(hi)
		r.WaitSnapshot(time.Minute, "the batch consumed", func(s pipeline.Snapshot) bool { return pipelinetest.Consumed(s) >= want })
		// Conversions waiting for touchpoints that are not coming are
		// released after the allowed lateness once their partition is
		// caught up; not waiting long for it only makes less happen late.
		for deadline := time.Now().Add(2 * time.Second); r.Snapshot().Pending > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// keepVersions creates the Env's schema and stops merges of
// attributed_conversions, a ReplacingMergeTree(version) whose merges drop
// superseded versions: the versions written stay countable by
// supersededConversions, whatever the timing of background merges.
func keepVersions(t *testing.T, env *pipelinetest.Env) {
	t.Helper()
	if err := pipeline.Migrate(t.Context(), env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	if err := env.CH.Exec(t.Context(), "SYSTEM STOP MERGES "+env.Database+".attributed_conversions"); err != nil {
		t.Fatal(err)
	}
}

// supersededConversions counts the conversions with more than one version
// in attributed_conversions, after checking that the view shows exactly
// one version of each.
func supersededConversions(t *testing.T, env *pipelinetest.Env) uint64 {
	t.Helper()
	var multi, visible uint64
	q := "SELECT count() FROM (SELECT conversion_id FROM " + env.Database + ".attributed_conversions GROUP BY conversion_id HAVING uniqExact(version) > 1)"
	if err := env.CH.QueryRow(t.Context(), q).Scan(&multi); err != nil {
		t.Fatalf("count superseded conversions: %v", err)
	}
	q = "SELECT count() FROM (SELECT conversion_id FROM " + env.Database + ".credited_conversions GROUP BY conversion_id HAVING uniqExact(version) > 1)"
	if err := env.CH.QueryRow(t.Context(), q).Scan(&visible); err != nil {
		t.Fatalf("count visible versions: %v", err)
	}
	if visible != 0 {
		t.Errorf("credited_conversions shows %d conversions under more than one version", visible)
	}
	return multi
}

// With reset-on-conversion, a conversion's path starts after the user's
// previous conversion. A conversion that arrives after a later one of its
// user was credited moves that reset point: the later conversion must be
// re-attributed, whatever the arrival order; first by hand, then for
// generated traffic (15% of converters buy twice) with the conversions
// arriving latest first.
func TestResetOnConversionLateConversion(t *testing.T) {
	reset := attribution.Config{ResetOnConversion: true}
	check := func(t *testing.T, env *pipelinetest.Env, ev pipelinetest.Events) {
		t.Helper()
		want := pipelinetest.Replay(t, ev.Reference(), replay.Config{Attribution: reset})
		if d := pipelinetest.Diff(want, env.Credited(), 20); d != "" {
			t.Errorf("credited_conversions differs from replay:\n%s", d)
		}
	}
	t.Run("by hand", func(t *testing.T) {
		env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
		t0 := generate.DefaultStart.Add(10 * time.Hour)
		msg := func(id string, d time.Duration, fields string) pipelinetest.Msg {
			return pipelinetest.Msg{Key: []byte("u"), Value: []byte(`{"event_id":"` + id + `","user_id":"u","timestamp":"` + t0.Add(d).UTC().Format(time.RFC3339Nano) + `"` + fields + `}`)}
		}
		click := `,"source":"google","medium":"cpc"`
		first := pipelinetest.Events{
			Touchpoints: []pipelinetest.Msg{msg("t1", 0, click), msg("t2", time.Hour, click)},
			Conversions: []pipelinetest.Msg{msg("c2", 2*time.Hour, `,"revenue":10`)},
		}
		then := pipelinetest.Events{Conversions: []pipelinetest.Msg{msg("c1", 30*time.Minute, `,"revenue":10`)}}
		cfg := lateConfig(env)
		cfg.Attribution = reset
		r := pipelinetest.StartRunner(t, cfg)
		env.ProduceEvents(first)
		r.WaitSnapshot(time.Minute, "c2 credited", func(s pipeline.Snapshot) bool { return s.Attributed == 1 })
		env.ProduceEvents(then) // c1 arrives after c2 was credited to t1 and t2
		env.WaitCommitted(time.Minute)
		if err := r.Stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		check(t, env, first.With(then))
	})
	t.Run("conversions backwards", func(t *testing.T) {
		base := pipelinetest.Generate(t, generate.Config{Seed: 42, Events: 12_000})
		// The touchpoints in time order, then the conversions latest first:
		// every repeat buyer's second purchase arrives before the first.
		order := sortedBy(base.Stamp(), func(_ int, m pipelinetest.Stamped) int64 {
			if m.Conversion {
				return 1<<50 - m.TimeMs
			}
			return m.TimeMs
		})
		env := pipelinetest.New(t, pipelinetest.Options{})
		cfg := lateConfig(env)
		cfg.Attribution = reset
		r := pipelinetest.StartRunner(t, cfg)
		produceInBatches(t, env, r, order, lateBatches)
		env.WaitCommitted(time.Minute)
		if err := r.Stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		check(t, env, base)
	})
}

// "Beyond the horizon" must not depend on restarts: a run that is stopped
// and started again between two too-late touchpoints credits what an
// uninterrupted run credits, the conversion they would belong to keeping
// its original path.
func TestTooLateSurvivesRestart(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	t0 := generate.DefaultStart.Add(10 * time.Hour)
	msg := func(id, user string, d time.Duration, fields string) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(user), Value: []byte(`{"event_id":"` + id + `","user_id":"` + user + `","timestamp":"` + t0.Add(d).UTC().Format(time.RFC3339Nano) + `"` + fields + `}`)}
	}
	click := `,"source":"google","medium":"cpc"`
	first := pipelinetest.Events{
		Touchpoints: []pipelinetest.Msg{msg("a-tp1", "a", 0, click), msg("c-tp1", "c", 3*time.Hour, click)},
		Conversions: []pipelinetest.Msg{msg("a-cv", "a", 10*time.Minute, `,"revenue":10`)},
	}
	late1 := msg("a-late1", "a", 5*time.Minute, click)
	late2 := msg("a-late2", "a", 7*time.Minute, click)
	cfg := env.Config()
	cfg.AllowedLateness = time.Millisecond
	cfg.Horizon = time.Hour

	r := pipelinetest.StartRunner(t, cfg)
	env.ProduceEvents(first)
	r.WaitSnapshot(time.Minute, "a-cv credited", func(s pipeline.Snapshot) bool { return s.Attributed == 1 && s.Touchpoints == 2 })
	env.Produce(env.Touchpoints, []pipelinetest.Msg{late1})
	env.WaitCommitted(time.Minute)
	if err := r.Stop(); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	if s := r.Snapshot(); s.TooLate != 1 {
		t.Fatalf("run 1: %d too late, want 1", s.TooLate)
	}

	r = pipelinetest.StartRunner(t, cfg)
	env.Produce(env.Touchpoints, []pipelinetest.Msg{late2})
	env.WaitCommitted(time.Minute)
	if err := r.Stop(); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if s := r.Snapshot(); s.TooLate != 1 {
		t.Errorf("run 2: %d too late, want 1: a-late2 is 2:53 behind the partition's latest touchpoint", s.TooLate)
	}
	equalReplay(t, env, first.Reference())
}
