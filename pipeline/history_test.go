package pipeline_test

import (
	"testing"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A user's path outlives the process: touchpoints consumed by one run are
// credited to conversions that a later run consumes.
func TestPathHistorySurvivesRestart(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 11, Users: 2000})

	// Run 1: only touchpoints; the conversions topic is empty.
	env.Produce(env.Touchpoints, ev.Touchpoints)
	s1 := pipelinetest.RunUntilCaughtUp(t, env.Config())
	if s1.Touchpoints == 0 || s1.Attributed != 0 {
		t.Fatalf("run 1: %d touchpoints, %d attributed; want touchpoints and no attribution", s1.Touchpoints, s1.Attributed)
	}
	if n := env.Count("attributed_conversions"); n != 0 {
		t.Fatalf("run 1 credited %d rows without conversions", n)
	}

	// Run 2: a new Runner in the same group sees only the conversions.
	env.Produce(env.Conversions, ev.Conversions)
	s2 := pipelinetest.RunUntilCaughtUp(t, env.Config())
	if s2.Touchpoints != 0 {
		t.Errorf("run 2 consumed %d touchpoints again; run 1 committed them", s2.Touchpoints)
	}
	if s2.HistoryLoads == 0 {
		t.Error("run 2 loaded no user history from ClickHouse")
	}
	equalReplay(t, env, ev)
}

// A run over topics of which one is empty catches up and returns.
func TestUntilCaughtUpWithEmptyTopic(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 12, Users: 200})
	env.Produce(env.Touchpoints, ev.Touchpoints)
	pipelinetest.RunUntilCaughtUp(t, env.Config())
}
