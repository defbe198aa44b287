package pipeline_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
)

// equalReplay fails t unless the view holds exactly the rows replay
// computes from ev, without duplicates and with revenue split exactly.
func equalReplay(t *testing.T, env *pipelinetest.Env, ev pipelinetest.Events) {
	t.Helper()
	want := pipelinetest.Replay(t, ev, replay.Config{})
	got := env.Credited()
	if d := pipelinetest.Diff(want, got, 20); d != "" {
		t.Errorf("credited_conversions differs from replay:\n%s", d)
	}
	pipelinetest.CheckInvariants(t, got, pipelinetest.Revenues(ev))
}

// The view written by the streaming attributor equals, row for row and
// column for column, what replay computes from the same events; invalid
// events go to the dead-letter topic with where they came from and why.
func TestStreamingEqualsReplay(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	bad := pipelinetest.InvalidMessages()
	ev := pipelinetest.Generate(t, generate.Config{Seed: 7, Users: 3000}).With(pipelinetest.EdgeCases()).WithInvalid(bad)
	env.ProduceEvents(ev)

	snap := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev)
	edge := map[string]int{}
	for _, r := range env.Credited() {
		if strings.HasPrefix(r.ConversionID, "edge-") && r.Model == "linear" {
			edge[r.ConversionID+" "+r.TouchpointID]++
		}
	}
	for _, k := range []string{"edge-none-cv ", "edge-tie-cv edge-tie-tp1", "edge-split-cv edge-split-tp1", "edge-split-cv edge-split-tp2", "edge-split-cv edge-split-tp3"} {
		if edge[k] != 1 {
			t.Errorf("edge cases: linear row %q appears %d times, want once (all: %v)", k, edge[k], edge)
		}
	}
	if len(edge) != 5 {
		t.Errorf("edge cases: linear rows %v, want exactly 5", edge)
	}

	if snap.Invalid != int64(len(bad)) || snap.DeadLetters != int64(len(bad)) {
		t.Errorf("counters: %d invalid, %d dead letters; want %d of each", snap.Invalid, snap.DeadLetters, len(bad))
	}
	if snap.Duplicates == 0 {
		t.Error("counters: no duplicates seen; the generated traffic has some")
	}
	dead := env.ReadTopic(env.DLQ, len(bad), 30*time.Second)
	if len(dead) != len(bad) {
		t.Fatalf("dead-letter topic holds %d messages, want %d", len(dead), len(bad))
	}
	byValue := map[string]pipelinetest.Invalid{}
	for _, b := range bad {
		byValue[string(b.Value)] = b
	}
	for _, m := range dead {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		b, ok := byValue[string(m.Value)]
		if !ok {
			t.Errorf("dead letter %q is not one of the invalid messages produced (original bytes must be kept)", m.Value)
			continue
		}
		delete(byValue, string(m.Value))
		topic := env.Touchpoints
		if b.Conversion {
			topic = env.Conversions
		}
		if h["attributor.reason"] != "invalid" {
			t.Errorf("dead letter %q: attributor.reason %q, want invalid", m.Value, h["attributor.reason"])
		}
		if !strings.HasPrefix(h["attributor.error"], b.Field+":") {
			t.Errorf("dead letter %q: attributor.error %q does not name the field %q", m.Value, h["attributor.error"], b.Field)
		}
		if h["attributor.source_topic"] != topic {
			t.Errorf("dead letter %q: attributor.source_topic %q, want %q", m.Value, h["attributor.source_topic"], topic)
		}
		if string(m.Key) != string(b.Key) {
			t.Errorf("dead letter %q: key %q, want %q", m.Value, m.Key, b.Key)
		}
		// The source partition and offset must point at the original.
		p, perr := strconv.Atoi(h["attributor.source_partition"])
		off, oerr := strconv.ParseInt(h["attributor.source_offset"], 10, 64)
		if perr != nil || oerr != nil {
			t.Errorf("dead letter %q: source partition %q, offset %q", m.Value, h["attributor.source_partition"], h["attributor.source_offset"])
			continue
		}
		if orig := env.ReadAt(topic, p, off); string(orig.Value) != string(m.Value) {
			t.Errorf("dead letter %q: %s/%d@%d holds %q", m.Value, topic, p, off, orig.Value)
		}
	}
}
