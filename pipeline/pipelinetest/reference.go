package pipelinetest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/schemas"
)

// Stamped is a message with what the tests order it by: its topic and its
// event time (-1 for a message that does not decode).
type Stamped struct {
	Msg
	Conversion bool
	Identity   bool // an identity event (Conversion is false)
	TimeMs     int64
}

// Stamp returns every message of ev, touchpoints then conversions then
// identity events, each with its event time.
func (ev Events) Stamp() []Stamped {
	dec := schemas.NewDecoder(nil)
	out := make([]Stamped, 0, ev.Len())
	for _, m := range ev.Touchpoints {
		s := Stamped{Msg: m, TimeMs: -1}
		if tp, err := dec.Touchpoint(m.Value); err == nil {
			s.TimeMs = tp.TimeMs
		}
		out = append(out, s)
	}
	for _, m := range ev.Conversions {
		s := Stamped{Msg: m, Conversion: true, TimeMs: -1}
		if cv, err := dec.Conversion(m.Value); err == nil {
			s.TimeMs = cv.TimeMs
		}
		out = append(out, s)
	}
	for _, m := range ev.Identities {
		s := Stamped{Msg: m, Identity: true, TimeMs: -1}
		if id, err := dec.Identity(m.Value); err == nil {
			s.TimeMs = id.TimeMs
		}
		out = append(out, s)
	}
	return out
}

// Unstamp splits messages back into their topics, keeping their order.
func Unstamp(msgs []Stamped) Events {
	var ev Events
	for _, s := range msgs {
		switch {
		case s.Identity:
			ev.Identities = append(ev.Identities, s.Msg)
		case s.Conversion:
			ev.Conversions = append(ev.Conversions, s.Msg)
		default:
			ev.Touchpoints = append(ev.Touchpoints, s.Msg)
		}
	}
	return ev
}

// Reference returns the valid events of ev, each once (of the copies of a
// topic's attribution key and event_id, the first conversion and the
// earliest touchpoint; of an identity event's, by event_id, the first),
// in event-time order: the input
// on which replay computes what the pipeline must end with, whatever the
// order and the repetitions in which the events were produced.
func (ev Events) Reference() Events {
	dec := schemas.NewDecoder(nil)
	type id struct {
		conv, ident bool
		key, eid    string
	}
	seen := map[id]int{} // index in keep
	var keep []Stamped
	for _, s := range ev.Stamp() {
		var k id
		switch {
		case s.Identity:
			ie, err := dec.Identity(s.Value)
			if err != nil {
				continue
			}
			k = id{ident: true, eid: ie.EventID}
		case s.Conversion:
			cv, err := dec.Conversion(s.Value)
			if err != nil {
				continue
			}
			k = id{conv: true, key: cv.Key(), eid: cv.EventID}
		default:
			tp, err := dec.Touchpoint(s.Value)
			if err != nil {
				continue
			}
			k = id{key: tp.Key(), eid: tp.EventID}
		}
		if at, ok := seen[k]; ok {
			// Of a touchpoint's copies the earliest wins, the first on a
			// tie (attribution.Journey): whatever order they come in.
			if !s.Conversion && !s.Identity && s.TimeMs < keep[at].TimeMs {
				keep[at] = s
			}
			continue
		}
		seen[k] = len(keep)
		keep = append(keep, s)
	}
	slices.SortStableFunc(keep, func(a, b Stamped) int { return cmp.Compare(a.TimeMs, b.TimeMs) })
	return Unstamp(keep)
}

// Repeats returns how many messages of ev repeat an earlier one of their
// topic (the same attribution key and event_id): what the pipeline must
// count as duplicates.
func (ev Events) Repeats() int {
	return ev.Len() - ev.Reference().Len() - invalidCount(ev)
}

func invalidCount(ev Events) int {
	n := 0
	for _, s := range ev.Stamp() {
		if s.TimeMs < 0 {
			n++
		}
	}
	return n
}

// Source is where a dead letter says its message came from.
type Source struct {
	Topic     string
	Partition int
	Offset    int64
}

func (s Source) String() string { return fmt.Sprintf("%s/%d@%d", s.Topic, s.Partition, s.Offset) }

// Headers returns the headers of m by key.
func Headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// SourceOf returns the origin that dead letter m names in its headers.
func SourceOf(t testing.TB, m kafka.Message) Source {
	t.Helper()
	h := Headers(m)
	p, perr := strconv.Atoi(h["attributor.source_partition"])
	off, oerr := strconv.ParseInt(h["attributor.source_offset"], 10, 64)
	if perr != nil || oerr != nil || h["attributor.source_topic"] == "" {
		t.Fatalf("dead letter %q: no valid source headers: %v", m.Value, h)
	}
	return Source{Topic: h["attributor.source_topic"], Partition: p, Offset: off}
}

// DeadLetters returns every record of the dead-letter topic (none when the
// topic does not exist yet).
func (e *Env) DeadLetters() []kafka.Message {
	e.t.Helper()
	if !e.topicExists(e.DLQ) {
		return nil
	}
	n := 0
	for _, end := range e.EndOffsets(e.DLQ) {
		n += int(end)
	}
	if n == 0 {
		return nil
	}
	return e.ReadTopic(e.DLQ, n, time.Minute)
}

func (e *Env) topicExists(topic string) bool {
	client, done := e.kafkaClient()
	defer done()
	for range 3 {
		md, err := client.Metadata(e.t.Context(), &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 {
			return md.Topics[0].Error == nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}
