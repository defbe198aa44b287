package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// otlpReceiver is a minimal OTLP/HTTP collector: it decodes the protobuf
// bodies of /v1/metrics and /v1/traces as a real collector would and keeps
// what a test asserts on.
type otlpReceiver struct {
	mu sync.Mutex
	// last holds, per metric name, the sum of its data points in the most
	// recent export that carried it (cumulative: the run's total so far).
	last     map[string]int64
	exports  int               // metric export requests
	spans    map[string]int    // span name -> count
	services map[string]string // signal -> resource service.name
	errs     []string
}

func newOTLPReceiver(t *testing.T) (*otlpReceiver, *httptest.Server) {
	rc := &otlpReceiver{last: map[string]int64{}, spans: map[string]int{}, services: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *otlpReceiver) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			rc.fail(w, "gzip: "+err.Error())
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		rc.fail(w, "read: "+err.Error())
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		rc.fail(w, r.URL.Path+": content type "+ct)
		return
	}
	var resp proto.Message
	switch r.URL.Path {
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			rc.fail(w, "metrics: "+err.Error())
			return
		}
		rc.addMetrics(&req)
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	case "/v1/traces":
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			rc.fail(w, "traces: "+err.Error())
			return
		}
		rc.addSpans(&req)
		resp = &coltracepb.ExportTraceServiceResponse{}
	default:
		rc.fail(w, "unexpected path "+r.URL.Path)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (rc *otlpReceiver) fail(w http.ResponseWriter, msg string) {
	rc.mu.Lock()
	rc.errs = append(rc.errs, msg)
	rc.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
}

func serviceName(attrs []*commonpb.KeyValue) string {
	for _, kv := range attrs {
		if kv.GetKey() == "service.name" {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func (rc *otlpReceiver) addMetrics(req *colmetricpb.ExportMetricsServiceRequest) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.exports++
	for _, rm := range req.GetResourceMetrics() {
		rc.services["metrics"] = serviceName(rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				var points []*metricpb.NumberDataPoint
				switch d := m.GetData().(type) {
				case *metricpb.Metric_Sum:
					points = d.Sum.GetDataPoints()
				case *metricpb.Metric_Gauge:
					points = d.Gauge.GetDataPoints()
				}
				var sum int64
				for _, p := range points {
					sum += p.GetAsInt()
				}
				rc.last[m.GetName()] = sum
			}
		}
	}
}

func (rc *otlpReceiver) addSpans(req *coltracepb.ExportTraceServiceRequest) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		rc.services["traces"] = serviceName(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				rc.spans[s.GetName()]++
			}
		}
	}
}

var summaryRE = regexp.MustCompile(`: (\d+) events \(.*; (\d+) conversions attributed \(\d+ re-attributed[^)]*\), (\d+) credited rows`)

// runWithOTLP runs `attributor run` to completion on a little traffic with
// setEnv pointing it at a fresh receiver, checks that the run itself went
// right and returns the receiver and the summary's events, attributed
// conversions and credited rows.
func runWithOTLP(t *testing.T, setEnv func(url string)) (rc *otlpReceiver, events, attributed, credited int64) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 16, Events: 3000})
	env.ProduceEvents(ev)

	rc, srv := newOTLPReceiver(t)
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "50") // ms: several exports even in a run of half a second (a quiet machine)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
	setEnv(srv.URL)

	args := append([]string{"run", "--until-caught-up", "--progress", "0"}, env.Args()...)
	code, _, stderr := runSubcommand(args...)
	if code != 0 {
		t.Fatalf("attributor run: exit code %d; output:\n%s", code, stderr)
	}
	m := summaryRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in the output:\n%s", stderr)
	}
	events, _ = strconv.ParseInt(m[1], 10, 64)
	attributed, _ = strconv.ParseInt(m[2], 10, 64)
	credited, _ = strconv.ParseInt(m[3], 10, 64)
	if events != int64(ev.Len()) || attributed == 0 || credited < attributed {
		t.Fatalf("implausible run: %d events (produced %d), %d attributed, %d credited rows", events, ev.Len(), attributed, credited)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.errs) > 0 {
		t.Fatalf("the receiver refused requests: %v", rc.errs)
	}
	return rc, events, attributed, credited
}

// `attributor run` with OTEL_EXPORTER_OTLP_ENDPOINT set sends its metrics
// and spans to an OTLP/HTTP collector; at exit the metrics carry the run's
// totals, the same figures as its summary line.
func TestRunExportsOTLPMetricsAndTraces(t *testing.T) {
	rc, events, attributed, credited := runWithOTLP(t, func(url string) { t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url) })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.exports < 2 {
		t.Errorf("%d metric exports, want periodic ones and the final one", rc.exports)
	}
	for name, want := range map[string]int64{
		"attributor.events":                 events,
		"attributor.conversions.attributed": attributed,
		"attributor.rows.credited":          credited,
		"attributor.events.invalid":         0,
	} {
		got, ok := rc.last[name]
		switch {
		case !ok:
			t.Errorf("metric %s never received (got %d metrics: %v)", name, len(rc.last), rc.last)
		case got != want:
			t.Errorf("metric %s = %d at exit, want %d (the run's summary)", name, got, want)
		}
	}
	for _, name := range []string{"attributor.insert.batches", "attributor.commits"} {
		if rc.last[name] <= 0 {
			t.Errorf("metric %s = %d at exit, want > 0", name, rc.last[name])
		}
	}
	if rc.spans["attributor.sink.flush"] == 0 {
		t.Errorf("no attributor.sink.flush span received; spans: %v", rc.spans)
	}
	for _, signal := range []string{"metrics", "traces"} {
		if got := rc.services[signal]; got != "attributor" {
			t.Errorf("%s: resource service.name = %q, want attributor", signal, got)
		}
	}
}

// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT alone (a full URL, as the spec says)
// exports metrics and no traces.
func TestRunExportsOTLPMetricsOnly(t *testing.T) {
	rc, events, _, _ := runWithOTLP(t, func(url string) { t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", url+"/v1/metrics") })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if got := rc.last["attributor.events"]; got != events {
		t.Errorf("metric attributor.events = %d at exit, want %d", got, events)
	}
	if len(rc.spans) > 0 {
		t.Errorf("spans exported without a traces endpoint: %v", rc.spans)
	}
}
