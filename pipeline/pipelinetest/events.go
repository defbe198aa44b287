package pipelinetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/schemas"
)

// Msg is one Kafka message: the attribution key and the event's bytes.
type Msg struct {
	Key, Value []byte
}

// Events are the messages of the input topics, each in produce order.
// The same Events feed Kafka and replay. Identities are identity events
// (an anonymous_id belongs to a user_id), for an Env made with
// Options.Identities; with them, Replay stitches.
type Events struct {
	Touchpoints, Conversions, Identities []Msg
}

// Len returns the number of messages.
func (ev Events) Len() int { return len(ev.Touchpoints) + len(ev.Conversions) + len(ev.Identities) }

// Generate returns the traffic of cfg, in the generator's stream order;
// with cfg.LoggedOutShare > 0 it has identity events (logins, some of
// them hours or days late), which Replay then stitches.
func Generate(t testing.TB, cfg generate.Config) Events {
	t.Helper()
	tr, err := generate.New(cfg)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	var ev Events
	err = tr.Emit(func(k generate.Kind, key string, value []byte) error {
		m := Msg{Key: []byte(key), Value: bytes.Clone(value)}
		switch k {
		case generate.Conversion:
			ev.Conversions = append(ev.Conversions, m)
		case generate.Identity:
			ev.Identities = append(ev.Identities, m)
		default:
			ev.Touchpoints = append(ev.Touchpoints, m)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if tr.Duplicates() == 0 {
		t.Fatalf("generate: the traffic of %+v has no duplicates; use more users", cfg)
	}
	if cfg.LoggedOutShare > 0 && len(ev.Identities) == 0 {
		t.Fatalf("generate: the traffic of %+v has no identity events; use more users", cfg)
	}
	return ev
}

// Invalid are messages that the attributor must dead-letter, each with the
// field its error names.
type Invalid struct {
	Msg
	Conversion bool   // bound for the conversions topic
	Field      string // the field named in attributor.error
}

// InvalidMessages returns a handful of unusable events: bad JSON, a missing
// event_id, a negative revenue, a timestamp in 1970, and an unknown
// interaction, on both topics.
func InvalidMessages() []Invalid {
	m := func(key, value string) Msg { return Msg{Key: []byte(key), Value: []byte(value)} }
	return []Invalid{
		{Msg: m("u-bad-1", `{"event_id":"bad-json-tp","user_id":"u-bad-1",`), Field: "json"},
		{Msg: m("u-bad-2", `{"user_id":"u-bad-2","timestamp":"2026-11-27T10:00:00Z","source":"google","medium":"cpc"}`), Field: "event_id"},
		{Msg: m("u-bad-3", `{"event_id":"tp-1970","user_id":"u-bad-3","timestamp":1000}`), Field: "timestamp"},
		{Msg: m("u-bad-4", `{"event_id":"tp-interaction","user_id":"u-bad-4","timestamp":"2026-11-27T10:00:00Z","interaction":"hover"}`), Field: "interaction"},
		{Msg: m("u-bad-5", `not json at all`), Conversion: true, Field: "json"},
		{Msg: m("u-bad-6", `{"user_id":"u-bad-6","timestamp":"2026-11-27T10:00:00Z","revenue":10}`), Conversion: true, Field: "event_id"},
		{Msg: m("u-bad-7", `{"event_id":"cv-negative","user_id":"u-bad-7","timestamp":"2026-11-27T10:00:00Z","revenue":-5,"currency":"EUR"}`), Conversion: true, Field: "revenue"},
	}
}

// WithInvalid returns ev with the invalid messages spread through it: the
// i-th of each topic goes after the first (i+1)/(n+1) of its messages.
func (ev Events) WithInvalid(bad []Invalid) Events {
	var tps, cvs []Msg
	for _, b := range bad {
		if b.Conversion {
			cvs = append(cvs, b.Msg)
		} else {
			tps = append(tps, b.Msg)
		}
	}
	return Events{Touchpoints: interleave(ev.Touchpoints, tps), Conversions: interleave(ev.Conversions, cvs), Identities: ev.Identities}
}

func interleave(good, bad []Msg) []Msg {
	out := make([]Msg, 0, len(good)+len(bad))
	next := 0
	for i, b := range bad {
		at := (i + 1) * len(good) / (len(bad) + 1)
		out = append(out, good[next:at]...)
		out = append(out, b)
		next = at
	}
	return append(out, good[next:]...)
}

// Revenues returns the revenue in micros of every valid conversion, by
// event_id.
func Revenues(ev Events) map[string]int64 {
	dec := schemas.NewDecoder(nil)
	out := map[string]int64{}
	for _, m := range ev.Conversions {
		if cv, err := dec.Conversion(m.Value); err == nil {
			out[cv.EventID] = cv.RevenueMicros
		}
	}
	return out
}

// EdgeCases are valid events that generated traffic lacks, at hour 12 of
// generate.DefaultStart: a conversion without any touchpoint (credited to
// "(none)"), a conversion at the very millisecond of a touchpoint (which
// is on its path) followed 1 ms later by one that is not, and a revenue that
// three touchpoints cannot split evenly.
func EdgeCases() Events {
	at := func(ms int64) string {
		return time.UnixMilli(generate.DefaultStart.UnixMilli() + 12*3600_000 + ms).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	m := func(key, format string, args ...any) Msg {
		return Msg{Key: []byte(key), Value: []byte(fmt.Sprintf(format, args...))}
	}
	return Events{
		Touchpoints: []Msg{
			m("edge-tie", `{"event_id":"edge-tie-tp1","user_id":"edge-tie","timestamp":%q,"source":"google","medium":"cpc","campaign":"brand"}`, at(0)),
			m("edge-split", `{"event_id":"edge-split-tp1","anonymous_id":"edge-split","timestamp":%q,"source":"newsletter","medium":"email"}`, at(1000)),
			m("edge-split", `{"event_id":"edge-split-tp2","anonymous_id":"edge-split","timestamp":%q,"channel":"direct"}`, at(2000)),
			m("edge-split", `{"event_id":"edge-split-tp3","anonymous_id":"edge-split","timestamp":%q,"source":"gdn","medium":"display","interaction":"impression"}`, at(3000)),
			m("edge-tie", `{"event_id":"edge-tie-tp2","user_id":"edge-tie","timestamp":%q,"source":"bing","medium":"cpc"}`, at(60_001)),
		},
		Conversions: []Msg{
			m("edge-none", `{"event_id":"edge-none-cv","user_id":"edge-none","timestamp":%q,"revenue":12.5,"currency":"EUR"}`, at(500)),
			m("edge-split", `{"event_id":"edge-split-cv","anonymous_id":"edge-split","timestamp":%q,"conversion_type":"purchase","revenue":100.000001,"currency":"EUR"}`, at(4000)),
			m("edge-tie", `{"event_id":"edge-tie-cv","user_id":"edge-tie","timestamp":%q,"revenue":10,"currency":"EUR"}`, at(60_000)),
		},
	}
}

// With returns ev with more's events inserted in timestamp order: each
// goes before the first event of its topic that is later than it.
func (ev Events) With(more Events) Events {
	return Events{Touchpoints: insertByTime(ev.Touchpoints, more.Touchpoints), Conversions: insertByTime(ev.Conversions, more.Conversions),
		Identities: insertByTime(ev.Identities, more.Identities)}
}

func insertByTime(msgs, more []Msg) []Msg {
	out := slices.Clone(msgs)
	for _, m := range more {
		t := timeOf(m)
		i := slices.IndexFunc(out, func(x Msg) bool { return timeOf(x) > t })
		if i < 0 {
			i = len(out)
		}
		out = slices.Insert(out, i, m)
	}
	return out
}

// timeOf returns the timestamp of an event, or -1 when it has none.
func timeOf(m Msg) int64 {
	var w struct {
		Timestamp string `json:"timestamp"`
	}
	if json.Unmarshal(m.Value, &w) != nil {
		return -1
	}
	t, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return -1
	}
	return t.UnixMilli()
}
