package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/schemas"
)

// nastyMaxBytes is MaxMessageBytes in the dead-letter tests: small, so
// that over-size messages are cheap.
const nastyMaxBytes = 8 << 10

// nasty is an unusable message and the dead letter it must become.
type nasty struct {
	name       string
	msg        pipelinetest.Msg
	conversion bool
	reason     string // attributor.reason
	err        string // attributor.error, or a prefix of it
}

// padded returns a JSON object of exactly n bytes: event (an object without
// its closing brace) and an unknown field that fills the rest.
func padded(event string, n int) []byte {
	const field = `,"padding":"`
	fill := n - len(event) - len(field) - len(`"}`)
	if fill < 0 {
		panic("padded: event longer than n")
	}
	return []byte(event + field + strings.Repeat("x", fill) + `"}`)
}

// fuzzCorpus returns the seed corpus of schemas' decoder fuzz tests (dir is
// FuzzDecodeTouchpoint or FuzzDecodeConversion): hand-picked hostile inputs.
func fuzzCorpus(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "schemas", "testdata", "fuzz", dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fuzz corpus %s: %v (%d files)", dir, err, len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a one-[]byte fuzz corpus file", f)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = []byte(v)
	}
	return out
}

// nastyInputs returns every kind of unusable message: bad and truncated
// JSON, missing and malformed fields, negative money, timestamps in year 1
// and 9999, binary garbage, an empty value, an empty key, messages over
// MaxMessageBytes, and the decoders' fuzz corpus (what of it the decoder
// rejects).
func nastyInputs(t *testing.T) []nasty {
	t.Helper()
	dec := schemas.NewDecoder(nil)
	m := func(key, value string) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(key), Value: []byte(value)}
	}
	ts := `"timestamp":"2026-11-27T10:00:00Z"`
	out := []nasty{
		{name: "truncated json", msg: m("n1", `{"event_id":"n1","user_id":"n1",`)},
		{name: "no timestamp", msg: m("n2", `{"event_id":"n2","user_id":"n2"}`)},
		{name: "timestamp not RFC 3339", msg: m("n3", `{"event_id":"n3","user_id":"n3","timestamp":"yesterday"}`)},
		{name: "year 0001", msg: m("n4", `{"event_id":"n4","user_id":"n4","timestamp":"0001-01-01T00:00:00Z"}`)},
		{name: "year 9999", msg: m("n5", `{"event_id":"n5","user_id":"n5","timestamp":"9999-12-31T23:59:59.999Z"}`)},
		{name: "epoch ms in year 9999", msg: m("n6", `{"event_id":"n6","user_id":"n6","timestamp":253402300799999}`)},
		{name: "negative cost", msg: m("n7", `{"event_id":"n7","user_id":"n7",`+ts+`,"cost":-0.5}`)},
		{name: "user_id a number", msg: m("n8", `{"event_id":"n8","user_id":8,`+ts+`}`)},
		{name: "no attribution key", msg: m("n9", `{"event_id":"n9","user_id":"","anonymous_id":"",`+ts+`}`)},
		{name: "binary garbage", msg: pipelinetest.Msg{Key: []byte("n10"), Value: []byte("\x00\xff\xfe\x01{\x80\"\x7f\xc3")}},
		{name: "empty value", msg: pipelinetest.Msg{Key: []byte("n11")}},
		{name: "empty key", msg: pipelinetest.Msg{Value: []byte(`{"event_id":"n12","timestamp":"2026-11-27T10:00:00Z"}`)}},
		{name: "over max_message_bytes by one", msg: pipelinetest.Msg{Key: []byte("n13"), Value: padded(`{"event_id":"n13","user_id":"n13",`+ts, nastyMaxBytes+1)}, reason: "oversize"},
		{name: "over max_message_bytes tenfold", msg: pipelinetest.Msg{Key: []byte("n14"), Value: padded(`{"event_id":"n14","user_id":"n14",`+ts, 10*nastyMaxBytes)}, reason: "oversize"},

		{name: "negative revenue", conversion: true, msg: m("n20", `{"event_id":"n20","user_id":"n20",`+ts+`,"revenue":-5}`)},
		{name: "revenue a string", conversion: true, msg: m("n21", `{"event_id":"n21","user_id":"n21",`+ts+`,"revenue":"5"}`)},
		{name: "revenue 1e400", conversion: true, msg: m("n22", `{"event_id":"n22","user_id":"n22",`+ts+`,"revenue":1e400}`)},
		{name: "conversion year 0001 in ms", conversion: true, msg: m("n23", `{"event_id":"n23","user_id":"n23","timestamp":-62135596800000}`)},
		{name: "conversion year 9999", conversion: true, msg: m("n24", `{"event_id":"n24","user_id":"n24","timestamp":"9999-01-01T00:00:00Z"}`)},
		{name: "event_id too long", conversion: true, msg: m("n25", `{"event_id":"`+strings.Repeat("e", 600)+`","user_id":"n25",`+ts+`}`)},
		{name: "whitespace only", conversion: true, msg: m("n26", " \t\r\n ")},
		{name: "conversion empty key and garbage", conversion: true, msg: pipelinetest.Msg{Value: []byte("\xde\xad\xbe\xef")}},
		{name: "conversion over max_message_bytes", conversion: true, msg: pipelinetest.Msg{Key: []byte("n28"), Value: padded(`{"event_id":"n28","user_id":"n28",`+ts, nastyMaxBytes+100)}, reason: "oversize"},
	}
	handWritten, skipped := len(out), 0
	for _, c := range []struct {
		dir  string
		conv bool
	}{{"FuzzDecodeTouchpoint", false}, {"FuzzDecodeConversion", true}} {
		for name, v := range fuzzCorpus(t, c.dir) {
			var err error
			if c.conv {
				_, err = dec.Conversion(v)
			} else {
				_, err = dec.Touchpoint(v)
			}
			if err == nil {
				skipped++ // a valid event, of another time than the traffic
				continue
			}
			out = append(out, nasty{name: c.dir + "/" + name, conversion: c.conv, msg: pipelinetest.Msg{Key: []byte("fuzz-" + name), Value: v}})
		}
	}
	t.Logf("%d unusable messages, of which %d from the fuzz corpus (%d of its inputs are valid events, left out)", len(out), len(out)-handWritten, skipped)
	for i := range out {
		n := &out[i]
		if n.reason == "oversize" {
			n.err = "message of " + strconv.Itoa(len(n.msg.Key)+len(n.msg.Value)) + " bytes exceeds max_message_bytes " + strconv.Itoa(nastyMaxBytes) +
				" (key " + strconv.Itoa(len(n.msg.Key)) + ", value " + strconv.Itoa(len(n.msg.Value)) + ", headers 0)"
			continue
		}
		n.reason = "invalid"
		var err error
		if n.conversion {
			_, err = dec.Conversion(n.msg.Value)
		} else {
			_, err = dec.Touchpoint(n.msg.Value)
		}
		if err == nil {
			t.Fatalf("%s: the decoder accepts %q", n.name, n.msg.Value)
		}
		n.err = err.Error()
	}
	return out
}

// Every unusable message goes to the dead-letter topic with its original
// key and bytes, and headers that name the reason, the error, and the
// topic, partition and offset it came from; the counters say how many; the
// consumer never stops: the valid events around them (including one of
// exactly max_message_bytes) are credited exactly as replay credits them.
func TestDeadLettersKeepEveryUnusableMessage(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	bad := nastyInputs(t)
	var planted []pipelinetest.Invalid
	for _, n := range bad {
		planted = append(planted, pipelinetest.Invalid{Msg: n.msg, Conversion: n.conversion})
	}
	// A valid touchpoint of exactly max_message_bytes (key and value), and
	// its conversion.
	edge := pipelinetest.Events{
		Touchpoints: []pipelinetest.Msg{{Key: []byte("edge-max"), Value: padded(`{"event_id":"edge-max-tp","user_id":"edge-max","timestamp":"2026-11-27T11:00:00Z","source":"google","medium":"cpc"`, nastyMaxBytes-len("edge-max"))}},
		Conversions: []pipelinetest.Msg{{Key: []byte("edge-max"), Value: []byte(`{"event_id":"edge-max-cv","user_id":"edge-max","timestamp":"2026-11-27T11:30:00Z","revenue":3,"currency":"EUR"}`)}},
	}
	good := pipelinetest.Generate(t, generate.Config{Seed: 51, Users: 1000}).With(edge)
	ev := good.WithInvalid(planted)
	env.ProduceEvents(ev)

	cfg := env.Config()
	cfg.MaxMessageBytes = nastyMaxBytes
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, env, good.Reference())
	if !pipelinetest.Conversions(env.Credited())["edge-max-cv"] {
		t.Error("the conversion whose touchpoint is exactly max_message_bytes long is not credited")
	}
	if s.Invalid != int64(len(bad)) || s.DeadLetters != int64(len(bad)) || s.TooLate != 0 {
		t.Errorf("counters: %d invalid, %d dead letters, %d too late; want %d, %d, 0", s.Invalid, s.DeadLetters, s.TooLate, len(bad), len(bad))
	}
	env.WaitCommitted(30 * time.Second)

	// Two planted messages may share their bytes (an empty value), never
	// also their key.
	type origin struct {
		topic, key, value string
	}
	want := map[origin][]nasty{}
	for _, n := range bad {
		topic := env.Touchpoints
		if n.conversion {
			topic = env.Conversions
		}
		o := origin{topic, string(n.msg.Key), string(n.msg.Value)}
		want[o] = append(want[o], n)
	}
	dead := env.DeadLetters()
	if len(dead) != len(bad) {
		t.Errorf("the dead-letter topic holds %d records, want %d", len(dead), len(bad))
	}
	for _, m := range dead {
		h := pipelinetest.Headers(m)
		src := pipelinetest.SourceOf(t, m)
		o := origin{src.Topic, string(m.Key), string(m.Value)}
		if len(want[o]) == 0 {
			t.Errorf("dead letter %.80q (key %q) from %s: not one of the unusable messages produced there with that key (or twice)", m.Value, m.Key, src)
			continue
		}
		n := want[o][0]
		want[o] = want[o][1:]
		if !bytes.Equal(m.Key, n.msg.Key) {
			t.Errorf("%s: dead letter key %q, want %q", n.name, m.Key, n.msg.Key)
		}
		if h["attributor.reason"] != n.reason {
			t.Errorf("%s: attributor.reason %q, want %q", n.name, h["attributor.reason"], n.reason)
		}
		if h["attributor.error"] != n.err {
			t.Errorf("%s: attributor.error %q, want %q", n.name, h["attributor.error"], n.err)
		}
		if h["attributor.source_timestamp"] == "" {
			t.Errorf("%s: no attributor.source_timestamp", n.name)
		}
		if orig := env.ReadAt(src.Topic, src.Partition, src.Offset); !bytes.Equal(orig.Value, n.msg.Value) || !bytes.Equal(orig.Key, n.msg.Key) {
			t.Errorf("%s: its source %s holds key %q value %.80q", n.name, src, orig.Key, orig.Value)
		}
	}
	for _, ns := range want {
		for _, n := range ns {
			t.Errorf("%s: no dead letter for %.80q", n.name, n.msg.Value)
		}
	}
}

// A message too large for the dead-letter topic itself is dead-lettered
// truncated, with its original size in a header, rather than blocking the
// pipeline.
func TestDeadLetterTooLargeForItsTopicIsTruncated(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	const dlqMax = 128 << 10
	createTopicWithConfig(t, env, env.DLQ, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(dlqMax)})

	big := pipelinetest.Msg{Key: []byte("big"), Value: padded(`{"event_id":"big","user_id":"big","timestamp":"2026-11-27T10:00:00Z"`, 4*dlqMax)}
	ev := pipelinetest.Generate(t, generate.Config{Seed: 52, Users: 300})
	ev = ev.WithInvalid([]pipelinetest.Invalid{{Msg: big}})
	env.ProduceEvents(ev)

	cfg := env.Config()
	cfg.MaxMessageBytes = nastyMaxBytes
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, env, ev.Reference())
	if s.DeadLetters != 1 {
		t.Errorf("counters: %d dead letters, want 1", s.DeadLetters)
	}
	dead := env.DeadLetters()
	if len(dead) != 1 {
		t.Fatalf("the dead-letter topic holds %d records, want 1", len(dead))
	}
	m := dead[0]
	h := pipelinetest.Headers(m)
	if h["attributor.reason"] != "oversize" || h["attributor.truncated_from"] != strconv.Itoa(len(big.Value)) {
		t.Errorf("dead letter headers %v: want reason oversize and truncated_from %d", h, len(big.Value))
	}
	if len(m.Value) == 0 || len(m.Value) >= dlqMax || !bytes.HasPrefix(big.Value, m.Value) {
		t.Errorf("dead letter of %d bytes: want a prefix of the original shorter than %d", len(m.Value), dlqMax)
	}
}

// Two touchpoints with keys over 16 MiB (the broker's message.max.bytes;
// their topic takes 20 MiB) once stopped every write for good: their
// dead-letter copies kept the whole key, the broker refused them, and the
// sink retried that batch for ever. Now they are dead-lettered cut to fit,
// with their original sizes in headers, and the valid events after them
// reach ClickHouse exactly as replay credits them.
func TestOversizedKeysDoNotStallThePipeline(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	createTopicWithConfig(t, env, env.Touchpoints, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(20 << 20)})
	env.CreateTopic(env.Conversions, 1)

	const keyBytes = 16<<20 + 1<<10
	var huge []kafka.Message
	for i := range 2 {
		key := bytes.Repeat([]byte{'a' + byte(i)}, keyBytes)
		// Broken JSON, as in the report: dead-lettered even by a size check
		// that looks at the value only.
		huge = append(huge, kafka.Message{Key: key, Value: []byte(`{"event_id":"huge-` + strconv.Itoa(i) + `","user_id":"huge",`)})
	}
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(env.Kafka), Transport: tr, Topic: env.Touchpoints, RequiredAcks: kafka.RequireAll, BatchBytes: 24 << 20, BatchTimeout: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range huge { // one per request: each alone is under the topic's 20 MiB
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatalf("produce a %d-byte key: %v", keyBytes, err)
		}
	}
	w.Close()
	ev := pipelinetest.Generate(t, generate.Config{Seed: 53, Users: 300})
	env.ProduceEvents(ev) // after the huge ones

	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev.Reference())
	if s.Invalid != 2 || s.DeadLetters != 2 || s.DeadLettersLost != 0 {
		t.Errorf("counters: %d invalid, %d dead letters, %d lost; want 2, 2, 0", s.Invalid, s.DeadLetters, s.DeadLettersLost)
	}
	dead := env.DeadLetters()
	if len(dead) != 2 {
		t.Fatalf("the dead-letter topic holds %d records, want 2", len(dead))
	}
	for i, m := range dead {
		h := pipelinetest.Headers(m)
		if h["attributor.reason"] != "oversize" || h["attributor.original_key_bytes"] != strconv.Itoa(keyBytes) ||
			h["attributor.original_value_bytes"] != strconv.Itoa(len(huge[i].Value)) || h["attributor.source_offset"] != strconv.Itoa(i) {
			t.Errorf("dead letter %d headers %v: want reason oversize, original_key_bytes %d, source offset %d", i, h, keyBytes, i)
		}
		if len(m.Key) == 0 || len(m.Key) > 1<<10 || !bytes.HasPrefix(huge[i].Key, m.Key) || !bytes.Equal(m.Value, huge[i].Value) {
			t.Errorf("dead letter %d: key of %d bytes, value %.60q; want the key cut to a prefix of at most 1 KiB, the value whole", i, len(m.Key), m.Value)
		}
	}
	env.WaitCommitted(30 * time.Second)
}

// createTopicWithConfig creates a one-partition topic with configs.
func createTopicWithConfig(t *testing.T, env *pipelinetest.Env, topic string, configs ...kafka.ConfigEntry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(env.Kafka), Transport: tr}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: configs,
	}}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	env.CreateTopic(topic, 1) // waits for its leader
}
