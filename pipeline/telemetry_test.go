package pipeline_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// The metrics an operator alerts on are served, with values that match
// what the run did, and readiness follows the services.
func TestTelemetryServesMetricsAndHealth(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 91, Users: 300})
	ev = ev.WithInvalid(pipelinetest.InvalidMessages()[:1])
	env.ProduceEvents(ev)

	cfg := env.Config()
	cfg.UntilCaughtUp = true
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	r, err := pipeline.NewRunner(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h, err := pipeline.TelemetryHandler(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("/readyz with both services up: %d %q", code, body)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`attributor_events_total{`, `topic="` + env.Touchpoints + `"`, `topic="` + env.Conversions + `"`,
		"attributor_events_invalid_total", "attributor_dead_letters_total", "attributor_conversions_attributed_total",
		"attributor_rows_credited_total", "attributor_insert_batches_total", "attributor_consumer_lag",
		"attributor_watermark_delay", "attributor_users_in_memory", "attributor_conversions_pending",
		"attributor_dead_letters_lost_total", "attributor_paths_capped_total",
		// Identity stitching: served (zero) even when the run stitches nothing.
		`attributor_links_total{`, `origin="identity"`, `origin="event"`, "attributor_links_conflicts_total",
		"attributor_links_too_late_total", "attributor_moves_total", `kind="link"`,
		`attributor_conversions_reattributed_total{`, `cause="late"`, `cause="link"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The counters are the run's: spot-check two against the snapshot.
	for name, v := range map[string]int64{"attributor_conversions_attributed_total": s.Attributed, "attributor_events_invalid_total": s.Invalid} {
		if !metricHas(body, name, v) {
			t.Errorf("/metrics: %s is not %d:\n%s", name, v, grepLines(body, name))
		}
	}
	if s.Invalid != 1 || s.Attributed == 0 {
		t.Errorf("snapshot %+v: want 1 invalid and some attributed", s)
	}
}

func metricHas(body, name string, v int64) bool {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name) && strings.HasSuffix(line, " "+strconv.FormatInt(v, 10)) {
			return true
		}
	}
	return false
}

func grepLines(body, name string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, name) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
