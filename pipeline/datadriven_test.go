package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/fit"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

// storeReplayFits fits markov (order) and shapley on ev as replay does,
// stores both in env's database and returns them as loaded back.
func storeReplayFits(t *testing.T, env *pipelinetest.Env, ev pipelinetest.Events, cfg attribution.Config, order int) attribution.Fits {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.Migrate(ctx, env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	cfg.Models = []string{"markov", "shapley"}
	fits, err := replay.FitInputs(ctx, replay.Config{Attribution: cfg},
		replay.Input{Name: "tp", R: bytes.NewReader(joinMsgs(ev.Touchpoints))}, replay.Input{Name: "cv", R: bytes.NewReader(joinMsgs(ev.Conversions))}, order)
	if err != nil {
		t.Fatal(err)
	}
	fits.Markov.ID, fits.Shapley.ID = "", ""
	for _, f := range []fit.Fit{{Markov: fits.Markov}, {Shapley: fits.Shapley}} {
		if _, err := fit.Store(ctx, env.CH, env.Database, f, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	m, err := fit.Latest(ctx, env.CH, env.Database, "markov", order)
	if err != nil || m.Markov == nil {
		t.Fatalf("latest markov fit: %v %v", m, err)
	}
	s, err := fit.Latest(ctx, env.CH, env.Database, "shapley", 0)
	if err != nil || s.Shapley == nil {
		t.Fatalf("latest shapley fit: %v %v", s, err)
	}
	return attribution.Fits{Markov: m.Markov, Shapley: s.Shapley}
}

func joinMsgs(msgs []pipelinetest.Msg) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m.Value)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Given the same stored fits, the view written by the stream equals, row
// for row, what replay computes for markov (order 2) and shapley beside a
// rule-based model, and every data-driven row names its fit.
func TestDataDrivenStreamEqualsReplay(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 15, Users: 1500}).With(pipelinetest.EdgeCases())
	acfg := attribution.Config{Models: []string{"linear", "markov", "shapley"}}
	fits := storeReplayFits(t, env, ev, acfg, 2)
	env.ProduceEvents(ev)

	cfg := env.Config()
	cfg.Attribution, cfg.MarkovOrder = acfg, 2
	snap := pipelinetest.RunUntilCaughtUp(t, cfg)
	if snap.ModelSkipped != 0 {
		t.Errorf("%d attributions skipped a data-driven model although fits were stored", snap.ModelSkipped)
	}
	want := pipelinetest.Replay(t, ev, replay.Config{Attribution: acfg, Fits: fits})
	got := env.Credited()
	if d := pipelinetest.Diff(want, got, 20); d != "" {
		t.Errorf("credited_conversions differs from replay:\n%s", d)
	}
	pipelinetest.CheckInvariants(t, got, pipelinetest.Revenues(ev))
	byModel := map[string]int{}
	for _, r := range got {
		byModel[r.Model]++
		wantID := map[string]string{"markov": fits.Markov.ID, "shapley": fits.Shapley.ID}[r.Model]
		if r.FitID != wantID {
			t.Fatalf("%s row of %s: fit_id %q, want %q", r.Model, r.ConversionID, r.FitID, wantID)
		}
	}
	if byModel["markov"] == 0 || byModel["shapley"] == 0 || byModel["markov"] != byModel["linear"] {
		t.Errorf("rows per model: %v; want markov and shapley rows, as many as linear's", byModel)
	}
}

// Before any fit is stored, run credits the rule-based models, skips
// markov with one log line and counts it; a fit stored while it runs is
// picked up without a restart and credits the conversions that follow.
func TestRunSkipsWithoutFitThenPicksItUp(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 3, Users: 300})
	env.ProduceEvents(ev)
	var logs syncBuffer
	cfg := env.Config()
	cfg.Attribution = attribution.Config{Models: []string{"linear", "markov"}}
	cfg.FitPoll = 100 * time.Millisecond
	cfg.AllowedLateness = 100 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	run := pipelinetest.StartRunner(t, cfg)
	ids := map[string]bool{}
	for _, m := range ev.Conversions {
		if cv, err := schemas.NewDecoder(nil).Conversion(m.Value); err == nil {
			ids[cv.EventID] = true
		}
	}
	convs := int64(len(ids))
	run.WaitSnapshot(time.Minute, "every conversion attributed", func(s pipeline.Snapshot) bool { return s.Attributed >= convs })
	if s := run.Snapshot(); s.ModelSkipped < convs {
		t.Errorf("attributor.models.skipped = %d, want at least %d (one per conversion)", s.ModelSkipped, convs)
	}
	for _, r := range env.Credited() {
		if r.Model == "markov" {
			t.Fatalf("a markov row was written without a fit: %+v", r)
		}
	}
	if n := strings.Count(logs.String(), "markov: no fit stored yet"); n != 1 {
		t.Errorf("the missing fit was logged %d times, want once:\n%s", n, logs.String())
	}

	fits := storeReplayFits(t, env, ev, attribution.Config{}, 1)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), fits.Markov.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the stored fit %s was not picked up:\n%s", fits.Markov.ID, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // every shard's next batch or tick hands it to its engine
	// New conversions of users with touchpoints, after everything so far.
	last := time.UnixMilli(0)
	keys := map[string]bool{}
	for _, m := range ev.Touchpoints {
		tp, err := schemas.NewDecoder(nil).Touchpoint(m.Value)
		if err != nil {
			continue
		}
		keys[tp.Key()] = true
		if t := time.UnixMilli(tp.TimeMs); t.After(last) {
			last = t
		}
	}
	var more []pipelinetest.Msg
	for k := range keys {
		if len(more) == 20 {
			break
		}
		ts := last.Add(time.Minute).UTC().Format(time.RFC3339Nano)
		more = append(more, pipelinetest.Msg{Key: []byte(k), Value: fmt.Appendf(nil, `{"event_id":"late-fit-%d","user_id":%q,"timestamp":%q,"revenue":10,"currency":"EUR"}`, len(more), k, ts)})
	}
	env.Produce(env.Conversions, more)
	want := convs + int64(len(more))
	run.WaitSnapshot(time.Minute, "the new conversions attributed", func(s pipeline.Snapshot) bool { return s.Attributed >= want })
	markov := map[string]bool{}
	for _, r := range env.Credited() {
		if r.Model == "markov" {
			if r.FitID != fits.Markov.ID {
				t.Errorf("markov row of %s: fit_id %q, want %q", r.ConversionID, r.FitID, fits.Markov.ID)
			}
			markov[r.ConversionID] = true
		}
	}
	for i := range more {
		if id := fmt.Sprintf("late-fit-%d", i); !markov[id] {
			t.Errorf("conversion %s, after the fit was stored, has no markov rows", id)
		}
	}
}

// A database made before fit_id existed gets the column (and the view shows
// it); migrating again is a no-op, though 18.16 has no ADD COLUMN IF NOT
// EXISTS.
func TestMigrateAddsFitIDToAnOldDatabase(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stmts, err := schemas.DDL(env.Database)
	if err != nil {
		t.Fatal(err)
	}
	// The first release: the database and attributed_conversions as they
	// were (the v1 layout without fit_id), which Migrate converts.
	// (pipeline/migrate/testdata/v1 holds the release before schema 2).
	v1, err := os.ReadFile("migrate/testdata/v1/004_attributed_conversions.sql")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(v1), "\n") {
		if !strings.HasPrefix(l, "--") {
			lines = append(lines, l)
		}
	}
	v1SQL := strings.TrimSuffix(strings.TrimSpace(strings.ReplaceAll(strings.Join(lines, "\n"), "{db}", env.Database)), ";")
	v0 := strings.Replace(v1SQL, ",\n    fit_id           String DEFAULT ''", "", 1)
	if !strings.Contains(stmts[0].File, "001_database.sql") || v0 == v1SQL {
		t.Fatal("the fixture no longer matches the DDL")
	}
	for _, sql := range []string{stmts[0].SQL, v0} {
		if err := env.CH.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	has := func() uint64 {
		var n uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = 'credited_conversions' AND name = 'fit_id'", env.Database).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 0; i < 2; i++ {
		if err := pipeline.Migrate(ctx, env.CH, env.Database); err != nil {
			t.Fatalf("migrate %d: %v", i+1, err)
		}
		if has() != 1 {
			t.Fatalf("after migrate %d: credited_conversions has no fit_id", i+1)
		}
	}
}

// --fit-every refits in-process on the trailing window of what is stored,
// stores the fit and applies it.
func TestRunRefitsWithFitEvery(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 5, Users: 300})
	env.ProduceEvents(ev)
	cfg := env.Config()
	cfg.Attribution = attribution.Config{Models: []string{"linear", "shapley"}}
	cfg.FitEvery, cfg.FitPoll = 200*time.Millisecond, time.Hour
	run := pipelinetest.StartRunner(t, cfg)
	deadline := time.Now().Add(time.Minute)
	for {
		f, err := fit.Latest(context.Background(), env.CH, env.Database, "shapley", 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Shapley != nil && f.Shapley.Conversions > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no shapley fit stored by --fit-every; counters %+v", run.Snapshot())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
