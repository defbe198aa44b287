package pipeline_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// syncBuffer is a log destination shared by the Runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Why events are rejected shows in the run's own log, not only in the
// dead-letter topic: the first LogRejections of each reason are logged with
// topic, partition, offset and a readable reason, the rest only counted;
// the counters hold the count per reason.
func TestRejectionsAreLoggedAndCountedPerReason(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	var bad []pipelinetest.Invalid
	for i := range 8 { // more than the 3 logged
		bad = append(bad, pipelinetest.Invalid{Msg: pipelinetest.Msg{Key: []byte(fmt.Sprint("cut-", i)), Value: []byte(fmt.Sprintf(`{"event_id":"cut-%d","user_id":"u",`, i))}})
	}
	bad = append(bad,
		pipelinetest.Invalid{Msg: pipelinetest.Msg{Key: []byte("y1999"), Value: []byte(`{"event_id":"y1999","user_id":"u","timestamp":"1999-12-31T23:00:00Z"}`)}},
		pipelinetest.Invalid{Msg: pipelinetest.Msg{Key: []byte("esc"), Value: []byte("{\"event_id\":\"esc\",\x1b]0;owned\x07\xff}")}, Conversion: true},
	)
	ev := pipelinetest.Generate(t, generate.Config{Seed: 61, Users: 200}).WithInvalid(bad)
	env.ProduceEvents(ev)

	var logs syncBuffer
	cfg := env.Config()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.LogRejections = 3
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	out := logs.String()
	t.Logf("log:\n%s", out)

	want := []pipeline.ReasonCount{{Reason: "invalid json", Count: 9}, {Reason: "invalid timestamp", Count: 1}}
	if fmt.Sprint(s.Rejected) != fmt.Sprint(want) {
		t.Errorf("Rejected = %v, want %v", s.Rejected, want)
	}
	if s.Invalid != 10 {
		t.Errorf("Invalid = %d, want 10", s.Invalid)
	}
	line := regexp.MustCompile(`msg="event rejected \(sent to the dead-letter topic\)" reason="([^"]+)" topic=(\S+) partition=(\d+) offset=(\d+) error=`)
	logged := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			logged[m[1]]++
			if m[2] != env.Touchpoints && m[2] != env.Conversions {
				t.Errorf("rejection logged with topic %q: %s", m[2], l)
			}
		}
		if !utf8.ValidString(l) || strings.ContainsAny(l, "\x1b\x07") {
			t.Errorf("log line with raw input bytes: %q", l)
		}
	}
	if logged["invalid json"] != 3 || logged["invalid timestamp"] != 1 {
		t.Errorf("logged rejections per reason %v, want 3 invalid json (the limit) and 1 invalid timestamp", logged)
	}
	if n := strings.Count(out, `further rejections for this reason are counted in the summary, not logged" reason="invalid json"`); n != 1 {
		t.Errorf("the end of logging for invalid json is said %d times, want once", n)
	}
	for _, w := range []string{
		`timestamp: out of range: \"1999-12-31T23:00:00Z\" is before 2000-01-01T00:00:00Z; accepted: from 2000-01-01T00:00:00Z up to, not including, 2100-01-01T00:00:00Z`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %s", w)
		}
	}
	for _, m := range env.DeadLetters() {
		h := pipelinetest.Headers(m)["attributor.error"]
		if !utf8.ValidString(h) || strings.ContainsFunc(h, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			t.Errorf("attributor.error header with raw input bytes: %q", h)
		}
	}
}
