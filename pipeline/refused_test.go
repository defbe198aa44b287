package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// errorsPair is one user's touchpoint and conversion (event id cvID).
func errorsPair(user, cvID, tp, cv string) ([]pipelinetest.Msg, []pipelinetest.Msg) {
	return []pipelinetest.Msg{{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":"%s-tp","user_id":"%s","timestamp":"%s","channel":"email"}`, user, user, tp))}},
		[]pipelinetest.Msg{{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":"%s","user_id":"%s","timestamp":"%s","revenue":10}`, cvID, user, cv))}}
}

func chExec(t *testing.T, env *pipelinetest.Env, q string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.CH.Exec(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// A column altered under the running attributor so that the server
// refuses some rows (a materialized column parsing conversion_id as a
// number: 'x-bad' cannot be parsed, 1002 can): the refused conversion's
// credited rows go to the dead-letter topic with reason refused, the
// table and the server's message; the other rows are written; the run
// goes on and counts the rows refused.
func TestRefusedRowsAreDeadLetteredAndTheRestWritten(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	cfg := env.Config()
	cfg.AllowedLateness = 100 * time.Millisecond
	produce := func(user, cvID, tp, cv string) {
		tps, cvs := errorsPair(user, cvID, tp, cv)
		env.Produce(env.Touchpoints, tps)
		env.Produce(env.Conversions, cvs)
	}
	produce("a1", "1001", "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z")
	r := pipelinetest.StartRunner(t, cfg)
	r.WaitSnapshot(time.Minute, "a1 credited", func(s pipeline.Snapshot) bool { return s.Attributed == 1 })
	perConversion := r.Snapshot().CreditedRows

	chExec(t, env, "ALTER TABLE "+env.Database+".attributed_conversions ADD COLUMN conversion_number UInt64 MATERIALIZED toUInt64(conversion_id)")
	produce("b1", "1002", "2026-11-27T11:00:00Z", "2026-11-27T11:05:00Z")
	produce("b2", "x-bad", "2026-11-27T11:01:00Z", "2026-11-27T11:06:00Z")
	produce("b3", "1004", "2026-11-27T11:02:00Z", "2026-11-27T11:07:00Z")
	r.WaitSnapshot(time.Minute, "the refused rows dead-lettered, the others written", func(s pipeline.Snapshot) bool {
		return s.Refused > 0 && s.CreditedRows == 3*perConversion
	})
	// The run goes on: a later conversion is credited.
	produce("c1", "1005", "2026-11-27T12:00:00Z", "2026-11-27T12:05:00Z")
	r.WaitSnapshot(time.Minute, "c1 credited after the refusal", func(s pipeline.Snapshot) bool { return s.CreditedRows == 4*perConversion })
	env.WaitCommitted(time.Minute) // every message acknowledged, the refused one too

	s := r.Snapshot()
	if s.Refused != perConversion {
		t.Errorf("Refused = %d, want %d (x-bad's credited rows)", s.Refused, perConversion)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := fmt.Sprint(pipelinetest.Conversions(env.Credited())); got != "map[1001:true 1002:true 1004:true 1005:true]" {
		t.Errorf("credited conversions %s, want 1001, 1002, 1004, 1005", got)
	}
	if n := env.Count("conversions"); n != 5 {
		t.Errorf("%d raw conversions stored, want 5 (only the credited table refuses)", n)
	}
	msgs := env.ReadTopic(env.DLQ, 1, 30*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d dead letters, want 1", len(msgs))
	}
	m := msgs[0]
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	t.Logf("dead letter: key %s, headers %v, value %s", m.Key, h, m.Value)
	if string(m.Key) != "x-bad" || h["attributor.reason"] != "refused" || h["attributor.table"] != "attributed_conversions" ||
		!strings.Contains(h["attributor.error"], "Cannot parse string 'x-bad' as UInt64") {
		t.Errorf("dead letter: key %q, headers %v; want x-bad, reason refused, the table and the server's message", m.Key, h)
	}
	var v struct {
		Table string `json:"table"`
		Row   struct {
			ConversionID string `json:"conversion_id"`
			UserKey      string `json:"user_key"`
			Rows         int64  `json:"rows"`
		} `json:"row"`
	}
	if err := json.Unmarshal(m.Value, &v); err != nil || v.Table != "attributed_conversions" || v.Row.ConversionID != "x-bad" || v.Row.UserKey != "b2" || v.Row.Rows != perConversion {
		t.Errorf("dead letter value %s (%v): want the table, conversion x-bad of b2 and its %d rows", m.Value, err, perConversion)
	}
}

// The credited table dropped under a running attributor: Run returns,
// within a bound, an error naming the table with the server's message,
// instead of retrying forever.
func TestDroppedTableStopsTheRun(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	cfg := env.Config()
	cfg.AllowedLateness = 100 * time.Millisecond
	tps, cvs := errorsPair("a1", "a1-cv", "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z")
	env.Produce(env.Touchpoints, tps)
	env.Produce(env.Conversions, cvs)
	r := pipelinetest.StartRunner(t, cfg)
	r.WaitSnapshot(time.Minute, "a1 credited", func(s pipeline.Snapshot) bool { return s.Attributed == 1 })

	chExec(t, env, "DROP TABLE "+env.Database+".attributed_conversions")
	tps, cvs = errorsPair("b1", "b1-cv", "2026-11-27T11:00:00Z", "2026-11-27T11:05:00Z")
	env.Produce(env.Touchpoints, tps)
	env.Produce(env.Conversions, cvs)
	deadline := time.Now().Add(time.Minute) // hang guard
	for !r.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("Run still running a minute after the table was dropped; counters %+v", r.Snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := r.Stop()
	table := env.Database + ".attributed_conversions"
	if err == nil || !strings.Contains(err.Error(), table) || !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatalf("Run = %v, want an error naming %s with the server's message", err, table)
	}
	t.Logf("Run: %v", err)
}

// `attributor run` exits non-zero, naming the table, when the credited
// table is dropped under it.
func TestBinaryExitsNonZeroOnDroppedTable(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	tps, cvs := errorsPair("a1", "a1-cv", "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z")
	env.Produce(env.Touchpoints, tps)
	env.Produce(env.Conversions, cvs)
	args := append([]string{"run", "--progress", "0", "--allowed-lateness", "100ms"}, env.Args()...)
	p := pipelinetest.Start(t, args...)
	if n := env.WaitRows("attributed_conversions", 1, time.Minute, p.Exited); n == 0 {
		code, out := p.Wait(time.Second)
		t.Fatalf("attributor exited (code %d) before writing any credited row:\n%s", code, out)
	}
	chExec(t, env, "DROP TABLE "+env.Database+".attributed_conversions")
	tps, cvs = errorsPair("b1", "b1-cv", "2026-11-27T11:00:00Z", "2026-11-27T11:05:00Z")
	env.Produce(env.Touchpoints, tps)
	env.Produce(env.Conversions, cvs)
	code, out := p.Wait(time.Minute)
	if code == 0 || !strings.Contains(out, env.Database+".attributed_conversions") {
		t.Fatalf("exit code %d, want non-zero with the table named; output:\n%s", code, out)
	}
	t.Logf("exit code %d", code)
}

// A table missing when a generation loads its start state (here the
// conversions table, dropped between the start's migrations and the first
// generation) stops the run with the server's message, instead of
// retrying the load forever.
func TestMissingTableAtGenerationStartStopsTheRun(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	tps, cvs := errorsPair("a1", "a1-cv", "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z")
	env.Produce(env.Touchpoints, tps)
	env.Produce(env.Conversions, cvs)
	cfg := env.Config()
	cfg.UntilCaughtUp = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard
	defer cancel()
	r, err := pipeline.NewRunner(ctx, cfg)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	defer r.Close()
	chExec(t, env, "DROP TABLE "+env.Database+".conversions")
	err = r.Run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Run still retrying a minute after the table was dropped (returned %v)", err)
	}
	if err == nil || !strings.Contains(err.Error(), env.Database+".conversions") || !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatalf("Run = %v, want an error naming %s.conversions", err, env.Database)
	}
	t.Logf("Run: %v", err)
}
