package faults

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
)

// Environment variables of the fault tests.
const (
	// EnvFaultTests must be "1" for the fault tests to run.
	EnvFaultTests = "ATTRIBUTOR_FAULT_TESTS"
	// EnvServicesScript is the script that stops and starts the services.
	// Default: scripts/services.sh of this repository.
	EnvServicesScript = "ATTRIBUTOR_SERVICES_SCRIPT"
)

// faultEvents is the traffic of every fault test: a few hundred thousand
// events, enough that each fault strikes in mid-run.
const faultEvents = 200_000

func TestMain(m *testing.M) {
	code := m.Run()
	pipelinetest.RemoveBinary()
	os.Exit(code)
}

// requireFaults skips t unless the fault tests were asked for, and makes
// sure both services are up again when t ends, whatever happened.
func requireFaults(t *testing.T) {
	t.Helper()
	if os.Getenv(EnvFaultTests) != "1" {
		t.Skipf("skipping: fault tests stop the shared Kafka and ClickHouse; run them alone with %s=1 (scripts/test.sh does)", EnvFaultTests)
	}
	pipelinetest.Require(t)
	// The last cleanup to run: whatever t did, both services are up after
	// it. (The Env's cleanup, which runs before, needs them too: a test
	// that stops a service calls upAfter once it has its Env and Runner.)
	t.Cleanup(func() { services(t, "up", "") })
}

func servicesScript() string {
	if s := os.Getenv(EnvServicesScript); s != "" {
		return s
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "services.sh")
}

// services runs the services script: action up or down, for one service
// (kafka or clickhouse) or, with "", both. It fails t when the script does.
func services(t *testing.T, action, service string) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{action}
	if service != "" {
		args = append(args, service)
	}
	out, err := exec.CommandContext(ctx, servicesScript(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", servicesScript(), strings.Join(args, " "), err, out)
	}
	t.Logf("services %s %s: %s", action, service, time.Since(start).Round(100*time.Millisecond))
}

// stillDown fails t if addr accepts connections while the test holds its
// service down: something else started it (the fault tests need the
// services to themselves), and what the test asserts next would be wrong.
func stillDown(t *testing.T, addr, service string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s (%s) answers while the test holds it down: something else started it; the fault tests need the services to themselves", service, addr)
	}
}

// upAfter brings service up at the end of t even when t fails before it
// does: a fault test never leaves a service down.
func upAfter(t *testing.T, service string) {
	t.Cleanup(func() { services(t, "up", service) })
}

// traffic returns generated events with the invalid messages of
// pipelinetest spread through them.
func traffic(t *testing.T, seed int64) (pipelinetest.Events, []pipelinetest.Invalid) {
	t.Helper()
	bad := pipelinetest.InvalidMessages()
	ev := pipelinetest.Generate(t, generate.Config{Seed: seed, Events: faultEvents}).WithInvalid(bad)
	return ev, bad
}

// part returns the i-th of n consecutive parts of each topic of ev.
func part(ev pipelinetest.Events, i, n int) pipelinetest.Events {
	cut := func(m []pipelinetest.Msg) []pipelinetest.Msg { return m[i*len(m)/n : (i+1)*len(m)/n] }
	return pipelinetest.Events{Touchpoints: cut(ev.Touchpoints), Conversions: cut(ev.Conversions)}
}

// waitClickHouse waits until the test's own connection answers again
// after ClickHouse was restarted.
func waitClickHouse(t *testing.T, env *pipelinetest.Env) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var one uint8
		err := env.CH.QueryRow(context.Background(), "SELECT 1").Scan(&one)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clickhouse does not answer a minute after it was started: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// committed returns the sum of the group's committed offsets over both
// input topics.
func committed(env *pipelinetest.Env) int64 {
	var n int64
	for _, topic := range []string{env.Touchpoints, env.Conversions} {
		for _, off := range env.CommittedOffsets(topic) {
			n += max(off, 0)
		}
	}
	return n
}

// startRunner starts a Runner of cfg in the background; it is stopped at
// the end of t, and t fails if Run returned an error.
func startRunner(t *testing.T, cfg pipeline.Config) *pipelinetest.Running {
	t.Helper()
	r := pipelinetest.StartRunner(t, cfg)
	t.Cleanup(func() { stop(t, r) })
	return r
}

// stop stops r and fails t if Run returned an error.
func stop(t *testing.T, r *pipelinetest.Running) {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// check fails t unless, after the fault, the view holds exactly replay's
// rows over the deduplicated events (no duplicate, no conversion under two
// versions, revenue split exactly), and the dead-letter topic holds the
// planted invalid messages and nothing else. A message dead-lettered twice
// (the dead-letter topic is at-least-once) is allowed; one dead-lettered
// that was not planted, or a planted one missing, is not.
func check(t *testing.T, env *pipelinetest.Env, ev pipelinetest.Events, bad []pipelinetest.Invalid) {
	t.Helper()
	start := time.Now()
	want := pipelinetest.Replay(t, ev.Reference(), replay.Config{})
	got := env.Credited()
	if d := pipelinetest.Diff(want, got, 20); d != "" {
		t.Errorf("credited_conversions differs from replay:\n%s", d)
	}
	pipelinetest.CheckInvariants(t, got, pipelinetest.Revenues(ev))
	var twice uint64
	q := "SELECT count() FROM (SELECT conversion_id FROM " + env.Database + ".credited_conversions GROUP BY conversion_id HAVING uniqExact(version) > 1)"
	if err := env.CH.QueryRow(context.Background(), q).Scan(&twice); err != nil || twice != 0 {
		t.Errorf("credited_conversions shows %d conversions under more than one version (err %v)", twice, err)
	}

	type origin struct{ topic, value string }
	planted := map[origin]bool{}
	for _, b := range bad {
		topic := env.Touchpoints
		if b.Conversion {
			topic = env.Conversions
		}
		planted[origin{topic, string(b.Value)}] = true
	}
	sources := map[pipelinetest.Source]bool{}
	dead := env.DeadLetters()
	for _, m := range dead {
		src := pipelinetest.SourceOf(t, m)
		if !planted[origin{src.Topic, string(m.Value)}] {
			t.Errorf("dead letter %.100q from %s (%v) is not a planted invalid message", m.Value, src, pipelinetest.Headers(m)["attributor.error"])
		}
		sources[src] = true
	}
	if len(sources) != len(bad) {
		t.Errorf("the dead-letter topic holds %d distinct messages, want the %d planted", len(sources), len(bad))
	}
	t.Logf("checked %d credited rows against replay, %d dead letters (%d distinct) in %s",
		len(got), len(dead), len(sources), time.Since(start).Round(time.Millisecond))
}
