package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/fit"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
)

// `attributor fit` on generated traffic run through the pipeline: it stores
// a fit equal to the one replay fits on the same events (the same paths:
// the traffic spans less than the default window), prints it in the three
// formats, and `attributor run` would load it.
func TestFitCommandOnGeneratedData(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 21, Users: 800})
	env.ProduceEvents(ev)
	pipelinetest.RunUntilCaughtUp(t, env.Config())
	svc := []string{"--clickhouse", env.ClickHouse, "--database", env.Database}

	want, err := replay.FitInputs(context.Background(), replay.Config{Attribution: attribution.Config{Models: []string{"markov", "shapley"}}},
		replay.Input{Name: "tp", R: bytes.NewReader(msgLines(ev.Touchpoints))}, replay.Input{Name: "cv", R: bytes.NewReader(msgLines(ev.Conversions))}, 1)
	if err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runSubcommand(append([]string{"fit", "--model", "markov", "--format", "json"}, svc...)...)
	if code != 0 {
		t.Fatalf("fit markov: exit %d: %s", code, stderr)
	}
	var got fitReport
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("fit --format json: %v\n%s", err, stdout)
	}
	stored, err := fit.Latest(context.Background(), env.CH, env.Database, "markov", 1)
	if err != nil || stored.Markov == nil {
		t.Fatalf("no markov fit stored: %v", err)
	}
	if got.FitID == "" || got.FitID != stored.Markov.ID {
		t.Errorf("printed fit id %q, stored %q", got.FitID, stored.Markov.ID)
	}
	if got.Conversions != want.Markov.Conversions || got.Nulls != want.Markov.Nulls || got.DistinctPaths != want.Markov.DistinctPaths {
		t.Errorf("counts: fit %d conversions %d nulls %d distinct; replay's fit %d %d %d",
			got.Conversions, got.Nulls, got.DistinctPaths, want.Markov.Conversions, want.Markov.Nulls, want.Markov.DistinctPaths)
	}
	if len(got.Channels) != len(want.Markov.Effects) || len(got.Channels) < 3 {
		t.Fatalf("channels: %+v, want those of %+v", got.Channels, want.Markov.Effects)
	}
	for i, c := range got.Channels {
		w := want.Markov.Effects[i]
		if c.Channel != w.Channel || math.Abs(*c.RemovalEffect-w.RemovalEffect) > 1e-12 || math.Abs(c.Share-w.Share) > 1e-12 {
			t.Errorf("channel %d: %+v (removal effect %v), replay's fit %+v", i, c, *c.RemovalEffect, w)
		}
	}

	code, stdout, stderr = runSubcommand(append([]string{"fit", "--model", "shapley", "--format", "csv"}, svc...)...)
	if code != 0 || !strings.HasPrefix(stdout, "fit_id,model,order,from,to,channel,conversions,share\n") || strings.Count(stdout, "\n") != len(want.Shapley.Effects)+1 {
		t.Errorf("fit shapley csv: exit %d: %s\n%s", code, stderr, stdout)
	}
	code, stdout, stderr = runSubcommand(append([]string{"fit", "--model", "markov", "--markov-order", "3"}, svc...)...)
	if code != 0 || !strings.Contains(stdout, "markov over [") || !strings.Contains(stdout, "removal_effect") || strings.Contains(stdout, "NaN") {
		t.Errorf("fit markov table: exit %d: %s\n%s", code, stderr, stdout)
	}
	if f, err := fit.Latest(context.Background(), env.CH, env.Database, "markov", 3); err != nil || f.Markov == nil || f.Markov.Order != 3 {
		t.Errorf("order-3 fit not stored: %v", err)
	}
}

func msgLines(msgs []pipelinetest.Msg) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m.Value)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Fits over nothing to fit on say why and store nothing; a single channel
// is fitted with a warning and no NaN; bad flags are usage errors.
func TestFitCommandBadInputs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fit"}, "--model is required"},
		{[]string{"fit", "--model", "linear"}, "--model: must be markov or shapley"},
		{[]string{"fit", "--model", "markov", "--markov-order", "5"}, "--markov-order: must be in [1, 4]"},
		{[]string{"fit", "--model", "markov", "--format", "xml"}, "--format: must be table, csv or json"},
		{[]string{"fit", "--model", "markov", "--from", "2026-11-02", "--to", "2026-11-01"}, "must be after --from"},
		{[]string{"fit", "--model", "markov", "--from", "yesterday"}, "--from: want a day"},
	} {
		code, _, stderr := runSubcommand(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}

	addr, conn := testClickHouse(t)
	db := migratedDatabase(t, addr, conn)
	svc := []string{"--clickhouse", addr, "--database", db}
	ctx := context.Background()
	code, _, stderr := runSubcommand(append([]string{"fit", "--model", "markov"}, svc...)...)
	if code != 1 || !strings.Contains(stderr, "holds no events: nothing to fit on") {
		t.Errorf("empty database: exit %d: %s", code, stderr)
	}
	code, _, stderr = runSubcommand(append([]string{"fit", "--model", "shapley", "--from", "2026-01-01", "--to", "2026-01-02"}, svc...)...)
	if code != 1 || !strings.Contains(stderr, "no paths") || !strings.Contains(stderr, "nothing stored") {
		t.Errorf("window without paths: exit %d: %s", code, stderr)
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	insert := func(table, cols string, rows ...[]any) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+table+" ("+cols+")")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	date := time.UnixMilli(day).UTC()
	insert("touchpoints", "event_id, user_key, ts_ms, event_date, interaction, channel",
		[]any{"t1", "u1", day + 1000, date, "click", "email"}, []any{"t2", "u2", day + 2000, date, "click", "email"})
	for _, m := range []string{"markov", "shapley"} {
		code, _, stderr = runSubcommand(append([]string{"fit", "--model", m}, svc...)...)
		if code != 1 || !strings.Contains(stderr, "no conversions in the window") || !strings.Contains(stderr, "nothing stored") {
			t.Errorf("%s, window without conversions: exit %d: %s", m, code, stderr)
		}
	}
	insert("conversions", "event_id, user_key, ts_ms, event_date, revenue_micros, currency", []any{"c1", "u1", day + 5000, date, int64(1000000), "EUR"})
	for _, m := range []string{"markov", "shapley"} {
		code, stdout, stderr := runSubcommand(append([]string{"fit", "--model", m}, svc...)...)
		if code != 0 || !strings.Contains(stdout, "warning: one channel only (email)") || !strings.Contains(stdout, "100.00%") || strings.Contains(stdout, "NaN") {
			t.Errorf("%s, one channel: exit %d: %s\n%s", m, code, stderr, stdout)
		}
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".model_fits").Scan(&n); err != nil || n != 2 {
		t.Errorf("model_fits holds %d fits (%v), want 2: the failed fits store nothing", n, err)
	}
}

// replay --models markov,shapley fits on its input files first and credits
// with that fit: the rows name it, the summary prints it, and the output
// does not depend on the order of the input lines.
func TestReplayCommandDataDriven(t *testing.T) {
	dir := t.TempDir()
	tpLines := strings.Split(strings.TrimSpace(string(must(os.ReadFile("../../testdata/small/touchpoints.ndjson")))), "\n")
	cvLines := strings.Split(strings.TrimSpace(string(must(os.ReadFile("../../testdata/small/conversions.ndjson")))), "\n")
	run := func(tps, cvs []string) (string, string) {
		t.Helper()
		tp, cv := dir+"/tp.ndjson", dir+"/cv.ndjson"
		os.WriteFile(tp, []byte(strings.Join(tps, "\n")+"\n"), 0o644)
		os.WriteFile(cv, []byte(strings.Join(cvs, "\n")+"\n"), 0o644)
		code, stdout, stderr := runSubcommand("replay", "--touchpoints", tp, "--conversions", cv, "--models", "linear,markov,shapley", "--allowed-lateness", "1000h", "--format", "csv")
		if code != 0 {
			t.Fatalf("replay: exit %d: %s", code, stderr)
		}
		return stdout, stderr
	}
	out, diag := run(tpLines, cvLines)
	if !strings.Contains(diag, "fit markov-o1-replay-") || !strings.Contains(diag, "fit shapley-replay-") {
		t.Errorf("the summary does not name the fits:\n%s", diag)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")[1:]
	models := map[string]int{}
	for _, r := range rows {
		f := strings.Split(r, ",")
		m, id := f[3], f[len(f)-1]
		models[m]++
		if (m == "linear") != (id == "") || (m != "linear" && !strings.HasPrefix(id, m)) {
			t.Fatalf("row %q: fit_id %q", r, id)
		}
	}
	if models["markov"] == 0 || models["markov"] != models["linear"] || models["shapley"] != models["linear"] {
		t.Errorf("rows per model: %v", models)
	}
	// Reversed input lines (with enough allowed lateness) give the same rows.
	rev := func(s []string) []string {
		out := append([]string(nil), s...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	out2, _ := run(rev(tpLines), rev(cvLines))
	if sortedLines(out) != sortedLines(out2) {
		t.Error("replay with markov,shapley depends on the order of the input lines")
	}
	code, _, stderr := runSubcommand("replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--models", "markov", "--markov-order", "0")
	if code != 2 || !strings.Contains(stderr, "--markov-order: must be in [1, 4]") {
		t.Errorf("--markov-order 0: exit %d: %s", code, stderr)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}
