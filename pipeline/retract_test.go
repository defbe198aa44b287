package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A conversion credited by one run, then re-sent stamped on the day
// before (a client's clock): the next run credits it as its earliest copy,
// as replay does, under the earlier day, and retracts its rows under the
// day it left. Before, the table is sorted by (conversion_date,
// conversion_id), so the old day's row stayed beside the new one and the
// conversion counted twice in credited_conversions and conversion_paths.
func TestConversionCopyStampedOnAnEarlierDayAfterARestart(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	day := generate.DefaultStart.Add(24 * time.Hour)
	msg := func(id, user string, at time.Time, extra string) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":%q,"user_id":%q,"timestamp":%q%s}`,
			id, user, at.UTC().Format(time.RFC3339Nano), extra))}
	}
	const src = `,"source":"google","medium":"cpc"`
	const value = `,"revenue":10,"currency":"EUR"`
	first := pipelinetest.Events{
		Touchpoints: []pipelinetest.Msg{
			msg("tp-1", "u1", day.Add(-5*time.Hour), src), // 19:00 the day before
			msg("tp-2", "u1", day.Add(30*time.Minute), `,"source":"newsletter","medium":"email"`),
		},
		Conversions: []pipelinetest.Msg{msg("cv-1", "u1", day.Add(time.Hour), value)}, // 01:00
	}
	resent := pipelinetest.Events{
		Conversions: []pipelinetest.Msg{msg("cv-1", "u1", day.Add(-time.Hour), value)}, // 23:00 the day before
	}

	cfg := lateConfig(env)
	r := pipelinetest.StartRunner(t, cfg)
	env.ProduceEvents(first)
	r.WaitSnapshot(time.Minute, "the conversion credited", func(s pipeline.Snapshot) bool {
		return pipelinetest.Consumed(s) == int64(first.Len()) && s.Attributed == 1
	})
	env.WaitCommitted(time.Minute)
	if err := r.Stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}

	env.ProduceEvents(resent)
	r = pipelinetest.StartRunner(t, cfg)
	r.WaitSnapshot(time.Minute, "the re-sent copy consumed", func(s pipeline.Snapshot) bool {
		return pipelinetest.Consumed(s) == int64(resent.Len()) && s.Attributed == 1
	})
	env.WaitCommitted(time.Minute)
	if err := r.Stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}

	if s := r.Snapshot(); s.Retractions != 1 {
		t.Errorf("%d retractions, want 1 (the day the conversion left)", s.Retractions)
	}
	equalReplay(t, env, first.With(resent).Reference())
	var paths uint64
	if err := env.CH.QueryRow(t.Context(), "SELECT count() FROM "+env.Database+".conversion_paths").Scan(&paths); err != nil {
		t.Fatal(err)
	}
	if paths != 1 {
		t.Errorf("conversion_paths holds %d rows, want the one conversion", paths)
	}
	var dates []string
	rows, err := env.CH.Query(t.Context(), "SELECT toString(conversion_date) FROM "+env.Database+".credited_conversions GROUP BY conversion_date ORDER BY conversion_date")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		dates = append(dates, d)
	}
	if want := day.Add(-time.Hour).Format("2006-01-02"); len(dates) != 1 || dates[0] != want {
		t.Errorf("credited under the days %v, want only %s (the earlier copy's)", dates, want)
	}
}
