package pipeline_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// One client with a clock 73 years ahead: a touchpoint and a conversion
// stamped 2099 (valid by the contract) among normal traffic change nobody's
// credits, in the run that reads them and in a later run (a restart that
// resumes the watermark from ClickHouse). They are dead-lettered as future,
// with the reason and the reference time in the headers; nothing of them is
// stored, so the cohort_value report stays a few rows, not a row per month
// up to 2099. Before the check, the 2099 touchpoint moved its partition's
// watermark 73 years ahead and every later touchpoint of that partition
// was dead-lettered too_late, its user's purchase credited to "(none)".
func TestFutureEventsChangeNoCredits(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 61, Users: 800})
	half := func(msgs []pipelinetest.Msg) int { return len(msgs) / 2 }
	first := pipelinetest.Events{Touchpoints: ev.Touchpoints[:half(ev.Touchpoints)], Conversions: ev.Conversions[:half(ev.Conversions)]}
	second := pipelinetest.Events{Touchpoints: ev.Touchpoints[half(ev.Touchpoints):], Conversions: ev.Conversions[half(ev.Conversions):]}

	// The outliers belong to users who convert, in both partitions' traffic.
	msg := func(key, value string) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(key), Value: []byte(value)}
	}
	var outliers []pipelinetest.Msg
	for i, cv := range first.Conversions[:4] {
		k := string(cv.Key)
		outliers = append(outliers, msg(k, `{"event_id":"future-tp-`+k+`","user_id":"`+k+`","timestamp":"2099-06-01T00:00:00Z","source":"google","medium":"cpc","campaign":"from_the_future"}`))
		if i == 0 {
			outliers = append(outliers, msg(k, `{"event_id":"future-cv-`+k+`","user_id":"`+k+`","timestamp":"2099-06-01T00:00:00Z","revenue":1000000,"currency":"EUR"}`))
		}
	}
	poisoned := pipelinetest.Events{
		Touchpoints: slices.Clone(first.Touchpoints),
		Conversions: slices.Clone(first.Conversions),
	}
	for _, o := range outliers {
		if strings.Contains(string(o.Value), "future-cv-") {
			poisoned.Conversions = slices.Insert(poisoned.Conversions, len(poisoned.Conversions)/3, o)
		} else {
			poisoned.Touchpoints = slices.Insert(poisoned.Touchpoints, len(poisoned.Touchpoints)/3, o)
		}
	}
	env.ProduceEvents(poisoned)
	cfg := env.Config()
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, env, first.Reference())
	if s.Future != int64(len(outliers)) || s.TooLate != 0 || s.Invalid != 0 {
		t.Errorf("first run: %d future, %d too late, %d invalid; want %d, 0, 0", s.Future, s.TooLate, s.Invalid, len(outliers))
	}

	// A later run: the watermark resumes from ClickHouse.
	env.ProduceEvents(second)
	s = pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, env, ev.Reference())
	if s.Future != 0 || s.TooLate != 0 || s.Invalid != 0 {
		t.Errorf("second run: %d future, %d too late, %d invalid; want none", s.Future, s.TooLate, s.Invalid)
	}

	dead := env.DeadLetters()
	if len(dead) != len(outliers) {
		t.Errorf("the dead-letter topic holds %d records, want the %d outliers", len(dead), len(outliers))
	}
	for _, m := range dead {
		h := pipelinetest.Headers(m)
		if h["attributor.reason"] != "future" || !strings.Contains(h["attributor.error"], "2099-06-01T00:00:00Z is more than max_future_skew 1h0m0s after the message was consumed (broker timestamp ") {
			t.Errorf("dead letter %.60q: reason %q, error %q; want future, naming the skew and the broker timestamp", m.Value, h["attributor.reason"], h["attributor.error"])
		}
		if !strings.Contains(string(m.Value), "2099") {
			t.Errorf("dead letter %.60q is not one of the outliers", m.Value)
		}
	}
	ctx := context.Background()
	for _, table := range []string{"touchpoints", "conversions", "attributed_conversions"} {
		where := "ts_ms >= 4000000000000"
		if table == "attributed_conversions" {
			// Compact rows (schema 2): the path's times are an array.
			where = "conversion_ts_ms >= 4000000000000 OR arrayExists(x -> x >= 4000000000000, touchpoint_ts_ms)"
		}
		var n uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+env.Database+"."+table+" WHERE "+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s holds %d rows stamped after 2096", table, n)
		}
	}
	var rows uint64
	var maxOffset uint64
	if err := env.CH.QueryRow(ctx, "SELECT count(), max(month_offset) FROM "+env.Database+".cohort_value").Scan(&rows, &maxOffset); err != nil {
		t.Fatal(err)
	}
	// The traffic spans a day of November 2026: month 0 only.
	if maxOffset != 0 || rows == 0 || rows > 50 {
		t.Errorf("cohort_value: %d rows up to month offset %d; want a few rows of month 0", rows, maxOffset)
	}
}

// A database that a release before the future check poisoned (a touchpoint
// and a conversion stamped 2099 stored in the raw tables) does not poison
// the runs after the upgrade: the watermark and frontier resume from rows
// no later than now + skew, so the next run's touchpoints are not too late
// and the view equals replay.
func TestStoredFutureRowsDoNotPoisonRestart(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 62, Users: 500})
	half := func(msgs []pipelinetest.Msg) int { return len(msgs) / 2 }
	env.ProduceEvents(pipelinetest.Events{Touchpoints: ev.Touchpoints[:half(ev.Touchpoints)], Conversions: ev.Conversions[:half(ev.Conversions)]})
	cfg := env.Config()
	pipelinetest.RunUntilCaughtUp(t, cfg)

	ctx := context.Background()
	const ms2099 = int64(4084041600000) // 2099-06-01T00:00:00Z
	tb, err := env.CH.PrepareBatch(ctx, "INSERT INTO "+env.Database+".touchpoints (event_id, user_key, user_id, ts_ms, event_date, interaction, channel, kafka_partition)")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		if err := tb.Append("ghost-tp", "ghost", "ghost", ms2099, time.UnixMilli(ms2099), "click", "paid_search", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Send(); err != nil {
		t.Fatal(err)
	}
	cb, err := env.CH.PrepareBatch(ctx, "INSERT INTO "+env.Database+".conversions (event_id, user_key, user_id, ts_ms, event_date, kafka_partition)")
	if err != nil {
		t.Fatal(err)
	}
	if err := cb.Append("ghost-cv", "ghost", "ghost", ms2099, time.UnixMilli(ms2099), int32(0)); err != nil {
		t.Fatal(err)
	}
	if err := cb.Send(); err != nil {
		t.Fatal(err)
	}

	env.ProduceEvents(pipelinetest.Events{Touchpoints: ev.Touchpoints[half(ev.Touchpoints):], Conversions: ev.Conversions[half(ev.Conversions):]})
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	if s.TooLate != 0 || s.DeadLetters != 0 {
		t.Errorf("after stored 2099 rows: %d too late, %d dead letters; want none", s.TooLate, s.DeadLetters)
	}
	equalReplay(t, env, ev.Reference())
}
