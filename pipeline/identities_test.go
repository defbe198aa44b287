package pipeline_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// lockedLog is a log destination safe for the Runner's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Without the identities topic, a run stitches nothing, says so once in
// the log at info, naming the topic, and credits exactly as before (what
// replay computes without identities).
func TestNoIdentitiesTopicMeansNoStitching(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 14, Users: 300})
	env.ProduceEvents(ev)
	cfg := env.Config()
	log := &lockedLog{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, env, ev.Reference())
	lines := 0
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "no identities topic: no identity stitching") {
			lines++
			if !strings.Contains(l, "level=INFO") || !strings.Contains(l, "topic="+env.Identities) {
				t.Errorf("the no-stitching line: %s; want it at info, naming the topic", l)
			}
		}
	}
	if lines != 1 {
		t.Errorf("the no-stitching line logged %d times, want once:\n%s", lines, log.String())
	}
	if s.Identities != 0 || s.ForwardedLinks != 0 {
		t.Errorf("without the identities topic: %d identity events, %d links forwarded; want none", s.Identities, s.ForwardedLinks)
	}
}

// Identity events the attributor cannot use reach the dead-letter topic
// with their reason and their origin (the identities topic, partition,
// offset), as the other topics' events do: bad JSON, a missing user_id, a
// timestamp beyond --max-future-skew, an oversize message. The identities
// topic (3 partitions beside inputs of 2) is consumed, and a
// --until-caught-up run ends once its partitions are read.
func TestBadIdentityEventsAreDeadLettered(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 2})
	env.CreateTopic(env.Identities, 3)
	tps, cvs := errorsPair("u1", "cv-1", "2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z")
	env.Produce(env.Touchpoints, tps)
	env.Produce(env.Conversions, cvs)
	msg := func(key, value string) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(key), Value: []byte(value)}
	}
	bad := []struct {
		pipelinetest.Msg
		reason, field string
	}{
		{msg("a1", `{"event_id":"id-1","anonymous_id":"a1","user_id":`), "invalid", ""},
		{msg("a2", `{"event_id":"id-2","anonymous_id":"a2","timestamp":"2026-11-27T09:20:00Z"}`), "invalid", "user_id"},
		{msg("a3", `{"event_id":"id-3","user_id":"u3","timestamp":"2026-11-27T09:20:00Z"}`), "invalid", "anonymous_id"},
		{msg("a4", `{"event_id":"id-4","anonymous_id":"a4","user_id":"u4","timestamp":"2099-06-01T00:00:00Z"}`), "future", "max_future_skew"},
		{msg("a5", `{"event_id":"id-5","anonymous_id":"a5","user_id":"u5","timestamp":"2026-11-27T09:20:00Z","pad":"`+strings.Repeat("x", 2048)+`"}`), "oversize", "max_message_bytes"},
	}
	var msgs []pipelinetest.Msg
	for _, b := range bad {
		msgs = append(msgs, b.Msg)
	}
	env.Produce(env.Identities, msgs)
	cfg := env.Config()
	cfg.MaxMessageBytes = 1024
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	if s.Invalid != 4 || s.Future != 1 || s.Identities != 0 || s.Attributed != 1 {
		t.Errorf("counters: %d invalid, %d future, %d identities, %d attributed; want 4 (3 invalid, 1 oversize), 1, 0, 1", s.Invalid, s.Future, s.Identities, s.Attributed)
	}
	dead := env.DeadLetters()
	byKey := map[string]string{}
	for _, d := range dead {
		h := pipelinetest.Headers(d)
		src := pipelinetest.SourceOf(t, d)
		if src.Topic != env.Identities {
			t.Errorf("dead letter %q from %s, want the identities topic", d.Key, src)
		}
		byKey[string(d.Key)] = h["attributor.reason"] + " " + h["attributor.error"]
	}
	for _, b := range bad {
		got := byKey[string(b.Key)]
		if !strings.HasPrefix(got, b.reason+" ") || !strings.Contains(got, b.field) {
			t.Errorf("identity event %s: dead letter %q; want reason %s naming %q", b.Key, got, b.reason, b.field)
		}
	}
	if len(dead) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(dead), len(bad))
	}
}
