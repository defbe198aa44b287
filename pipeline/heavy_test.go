package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// One heavy user (3,000 touchpoints in ten days, some sent twice) among
// ordinary traffic: each of its conversions is credited to the latest 50
// touchpoints of its windows, so it writes at most models x 50 rows (it
// wrote models x 3,000), the cut is counted, and the credits are exactly
// replay's.
func TestHeavyUserRowsAreBounded(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	const n, cap, models = 3000, 50, 6
	start := time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)
	var heavy pipelinetest.Events
	ts := func(d time.Duration) string { return start.Add(d).Format("2006-01-02T15:04:05.000Z") }
	step := 10 * 24 * time.Hour / n
	for i := range n {
		v := fmt.Sprintf(`{"event_id":"heavy-tp-%d","user_id":"heavy","timestamp":%q,"source":"google","medium":"cpc","campaign":"c%d"}`, i, ts(time.Duration(i)*step), i%9)
		heavy.Touchpoints = append(heavy.Touchpoints, pipelinetest.Msg{Key: []byte("heavy"), Value: []byte(v)})
		if i%100 == 0 { // a producer retry: the same event again
			heavy.Touchpoints = append(heavy.Touchpoints, pipelinetest.Msg{Key: []byte("heavy"), Value: []byte(v)})
		}
	}
	for _, c := range []struct {
		id string
		at time.Duration
	}{{"heavy-cv-mid", 5 * 24 * time.Hour}, {"heavy-cv-end", 10*24*time.Hour + time.Minute}} {
		heavy.Conversions = append(heavy.Conversions, pipelinetest.Msg{Key: []byte("heavy"),
			Value: []byte(fmt.Sprintf(`{"event_id":%q,"user_id":"heavy","timestamp":%q,"revenue":100,"currency":"EUR"}`, c.id, ts(c.at)))})
	}
	ev := pipelinetest.Generate(t, generate.Config{Seed: 54, Users: 300}).With(heavy)
	env.ProduceEvents(ev)

	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev.Reference())
	rows := map[string]int{}
	for _, r := range env.Credited() {
		rows[r.ConversionID]++
		if r.ConversionID == "heavy-cv-end" && r.PathLength != cap {
			t.Fatalf("heavy-cv-end credited over a path of %d, want %d", r.PathLength, cap)
		}
	}
	for _, id := range []string{"heavy-cv-mid", "heavy-cv-end"} {
		if rows[id] != models*cap {
			t.Errorf("%s: %d credited rows, want models x cap = %d", id, rows[id], models*cap)
		}
	}
	if s.PathsCapped < 2 {
		t.Errorf("counters: %d paths capped, want at least the heavy user's 2", s.PathsCapped)
	}
}
