package sink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// recordBytes is what the broker counts of m, with the framing deadMessage
// allows for.
func recordBytes(m kafka.Message) int { return MessageBytes(&m) + RecordSlack }

// A dead letter always fits its limit, whatever is oversized: the key, the
// value, the source headers or all three; what is cut says its original
// size in headers, and what is kept is a prefix of the original.
func TestDeadMessageFitsTheTopic(t *testing.T) {
	big := func(n int) []byte { return bytes.Repeat([]byte("k"), n) }
	manyHeaders := make([]kafka.Header, 1000)
	for i := range manyHeaders {
		manyHeaders[i] = kafka.Header{Key: "h" + strconv.Itoa(i), Value: big(1000)}
	}
	for _, c := range []struct {
		name       string
		key, value []byte
		headers    []kafka.Header
		limit      int
	}{
		{"small", []byte("u1"), []byte(`{"a":1}`), nil, 1 << 20},
		{"16 MiB key", big(16 << 20), []byte(`{"a":1}`), nil, 1 << 20},
		{"16 MiB value", []byte("u1"), big(16 << 20), nil, 1 << 20},
		{"1 MB of headers", []byte("u1"), []byte(`{}`), manyHeaders, 64 << 10},
		{"all three, smallest limit", big(8 << 20), big(8 << 20), manyHeaders, MinDeadMax},
	} {
		d := flow.DeadLetter{Reason: flow.ReasonOversize, Err: "too big"}
		d.Msg = kafka.Message{Topic: "tp", Partition: 3, Offset: 42, Key: c.key, Value: c.value, Headers: c.headers}
		m := deadMessage(d, c.limit)
		if n := recordBytes(m); n > c.limit {
			t.Errorf("%s: record of %d bytes, limit %d", c.name, n, c.limit)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["attributor.source_offset"] != "42" || h["attributor.reason"] != flow.ReasonOversize {
			t.Errorf("%s: headers %v lost the source", c.name, h)
		}
		cut := len(m.Key) < len(c.key) || len(m.Value) < len(c.value) || len(m.Headers) < 5+len(c.headers)
		if !cut {
			if h["attributor.original_key_bytes"] != "" {
				t.Errorf("%s: uncut record has original-size headers", c.name)
			}
			continue
		}
		if h["attributor.original_key_bytes"] != strconv.Itoa(len(c.key)) || h["attributor.original_value_bytes"] != strconv.Itoa(len(c.value)) ||
			h["attributor.original_headers_bytes"] != strconv.Itoa(HeadersBytes(c.headers)) {
			t.Errorf("%s: original sizes %v", c.name, h)
		}
		if !bytes.HasPrefix(c.key, m.Key) || !bytes.HasPrefix(c.value, m.Value) {
			t.Errorf("%s: the kept key or value is not a prefix of the original", c.name)
		}
	}
}

// fakeBroker refuses records over its limit as Kafka does (error code 10),
// the whole request when it holds one.
type fakeBroker struct {
	limit   int
	written []kafka.Message
	down    bool
}

func (b *fakeBroker) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	if b.down {
		return errors.New("dial tcp: connection refused")
	}
	var errs kafka.WriteErrors
	for _, m := range msgs {
		if recordBytes(m) > b.limit {
			errs = make(kafka.WriteErrors, len(msgs))
			for i := range errs {
				errs[i] = kafka.MessageSizeTooLarge
			}
			return errs
		}
	}
	b.written = append(b.written, msgs...)
	return nil
}

// A broker that refuses a dead letter as too large never stalls the sink:
// the record is cut and sent once more, and if refused again it is counted
// and logged, and writeDead returns so the batch's offsets are committed.
// Only errors that are not about size are returned (and retried).
func TestWriteDeadNeverRetriesTooLargeForever(t *testing.T) {
	big := flow.DeadLetter{Reason: flow.ReasonOversize, Err: "too big", Msg: kafka.Message{Topic: "tp", Offset: 7, Key: bytes.Repeat([]byte("k"), 2<<20), Value: []byte("{}")}}
	small := flow.DeadLetter{Reason: flow.ReasonInvalid, Err: "bad", Msg: kafka.Message{Topic: "tp", Offset: 8, Key: []byte("u"), Value: []byte("x")}}
	newTestSink := func(b *fakeBroker, deadMax int) *Sink {
		return &Sink{dlq: b, DeadMax: deadMax, stats: &flow.Stats{}, log: slog.New(slog.DiscardHandler)}
	}

	// The topic's limit was lowered after the start: cut to 4 KiB, written.
	b := &fakeBroker{limit: 64 << 10}
	s := newTestSink(b, 1<<20)
	if err := s.writeDead(context.Background(), []flow.DeadLetter{big, small}); err != nil {
		t.Fatal(err)
	}
	if len(b.written) != 2 || s.stats.DeadLettersLost.Load() != 0 || recordBytes(b.written[0]) > MinDeadMax {
		t.Fatalf("written %d, lost %d; want both written, the big one cut", len(b.written), s.stats.DeadLettersLost.Load())
	}

	// Refused even when cut: counted as lost, the rest written, no error.
	b = &fakeBroker{limit: 1 << 10}
	s = newTestSink(b, 1<<20)
	if err := s.writeDead(context.Background(), []flow.DeadLetter{big, small}); err != nil {
		t.Fatalf("writeDead = %v; a record refused as too large must not fail (and so stall) the batch", err)
	}
	if len(b.written) != 1 || s.stats.DeadLettersLost.Load() != 1 {
		t.Fatalf("written %d, lost %d; want the small one written, the big one lost", len(b.written), s.stats.DeadLettersLost.Load())
	}

	// A broker away is an error: the batch is retried, nothing is lost.
	b = &fakeBroker{limit: 1 << 20, down: true}
	s = newTestSink(b, 1<<20)
	if err := s.writeDead(context.Background(), []flow.DeadLetter{small}); err == nil || s.stats.DeadLettersLost.Load() != 0 {
		t.Fatalf("writeDead with the broker down = %v, lost %d; want an error, nothing lost", err, s.stats.DeadLettersLost.Load())
	}
}
