package pipeline_test

import (
	"context"
	"testing"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// Spend events on the optional topic land in ad_spend, deduplicated by
// event_id, with channels derived like touchpoints'; bad ones are
// dead-lettered; the credited rows are untouched by them.
func TestSpendTopicIsConsumed(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	env.CreateTopic(env.Spend, 3)
	ev := pipelinetest.Generate(t, generate.Config{Seed: 93, Users: 200})
	env.ProduceEvents(ev)
	env.Produce(env.Spend, []pipelinetest.Msg{
		{Key: []byte("sp-1"), Value: []byte(`{"event_id":"sp-1","date":"2026-11-27","channel":"paid_search","source":"google","campaign":"black_friday","cost":1234.56,"currency":"USD"}`)},
		{Key: []byte("sp-2"), Value: []byte(`{"event_id":"sp-2","date":"2026-11-27","source":"facebook","medium":"cpc","campaign":"bf","cost":99.5}`)},
		{Key: []byte("sp-1"), Value: []byte(`{"event_id":"sp-1","date":"2026-11-27","channel":"paid_search","source":"google","campaign":"black_friday","cost":1234.56,"currency":"USD"}`)},
		{Key: []byte("bad"), Value: []byte(`{"event_id":"sp-3","date":"27/11/2026","cost":1}`)},
	})
	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	if s.Spend != 3 || s.Invalid != 1 {
		t.Errorf("counters: %d spend events, %d invalid; want 3 and 1", s.Spend, s.Invalid)
	}
	type row struct {
		ID, Channel string
		Cost        int64
	}
	rows, err := env.CH.Query(context.Background(), "SELECT event_id, channel, cost_micros FROM "+env.Database+".ad_spend FINAL ORDER BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ID, &r.Channel, &r.Cost); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []row{{"sp-1", "paid_search", 1234560000}, {"sp-2", "paid_social", 99500000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ad_spend FINAL = %+v, want %+v", got, want)
	}
	dead := env.DeadLetters()
	if len(dead) != 1 || pipelinetest.Headers(dead[0])["attributor.error"] != `date: must be YYYY-MM-DD, got "27/11/2026"` {
		t.Errorf("dead letters %v: want the one bad spend event, its error naming the date", dead)
	}
	equalReplay(t, env, ev)
}
