package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/schemas"
)

func TestGenerateCommandFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		code, _, stderr := runSubcommand("generate", "--seed", "5", "--users", "2000", "--out", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "wrote ") {
			t.Errorf("no summary:\n%s", stderr)
		}
	}
	for _, name := range []string{"touchpoints.ndjson", "conversions.ndjson"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: two runs with --seed 5 differ (or are empty)", name)
		}
	}
	// What generate writes, replay reads without a complaint.
	code, stdout, stderr := runSubcommand("replay", "--touchpoints", filepath.Join(a, "touchpoints.ndjson"),
		"--conversions", filepath.Join(a, "conversions.ndjson"), "--models", "last_click")
	if code != 0 || strings.Contains(stderr, ".ndjson:") || stdout == "" {
		t.Errorf("replay of generated files: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "  invalid:               0") || strings.Contains(stderr, "duplicate:             0") {
		t.Errorf("replay summary: want no invalid lines and some duplicates:\n%s", stderr)
	}
}

func TestGenerateCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "--out or --kafka is required"},
		{[]string{"--out", t.TempDir(), "--start", "tomorrow"}, 2, "--start: "},
		{[]string{"--out", t.TempDir(), "--users", "-1"}, 2, "users: must be >= 0"},
		{[]string{"--out", t.TempDir(), "--duration", "0.5s"}, 2, "duration: must be >= 1s"},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
	} {
		code, _, stderr := runSubcommand(append([]string{"generate"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("generate %v: exit %d, stderr:\n%s\nwant exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// testKafka returns the broker of ATTRIBUTOR_TEST_KAFKA, or skips the test
// when it is unset or unreachable (fails instead with
// ATTRIBUTOR_REQUIRE_SERVICES=1).
func testKafka(t *testing.T) string {
	t.Helper()
	required := os.Getenv("ATTRIBUTOR_REQUIRE_SERVICES") == "1"
	addr := os.Getenv("ATTRIBUTOR_TEST_KAFKA")
	if addr == "" {
		if required {
			t.Fatal("ATTRIBUTOR_REQUIRE_SERVICES=1 but ATTRIBUTOR_TEST_KAFKA is unset")
		}
		t.Skip("Kafka test skipped: set ATTRIBUTOR_TEST_KAFKA=127.0.0.1:9092 (scripts/services.sh up starts a broker)")
	}
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		if required {
			t.Fatalf("Kafka at %s unreachable: %v", addr, err)
		}
		t.Skipf("Kafka test skipped: broker %s unreachable: %v", addr, err)
	}
	conn.Close()
	return addr
}

// deleteTopics removes the topics a test made, so that runs do not pile
// them up on a shared broker.
func deleteTopics(t *testing.T, addr string, topics ...string) {
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Logf("delete topics: %v", err)
		return
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		t.Logf("delete topics: %v", err)
		return
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(controller.Host, fmt.Sprint(controller.Port)))
	if err != nil {
		t.Logf("delete topics: %v", err)
		return
	}
	defer cc.Close()
	if err := cc.DeleteTopics(topics...); err != nil {
		t.Logf("delete topics %v: %v", topics, err)
	}
}

// readTopic reads every message of topic, partition by partition.
func readTopic(t *testing.T, addr, topic string, partitions int) [][]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := make([][]kafka.Message, partitions)
	for p := range partitions {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == 0 {
			continue
		}
		// A short MaxWait: Close waits for the fetch in flight at the end of
		// the partition, 10 s by default.
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			out[p] = append(out[p], m)
			if m.Offset == last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	return lines
}

// generate --kafka produces every event once, keyed by its attribution key,
// in the murmur2 partition of that key, in per-key order; and
// --create-topics refuses a topic with another partition count.
func TestGenerateCommandKafka(t *testing.T) {
	addr := testKafka(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	tpTopic, cvTopic := "test-generate-tp-"+suffix, "test-generate-cv-"+suffix
	t.Cleanup(func() { deleteTopics(t, addr, tpTopic, cvTopic) })
	dir := t.TempDir()
	const partitions = 3
	code, _, stderr := runSubcommand("generate", "--seed", "2", "--users", "1500", "--out", dir,
		"--kafka", addr, "--touchpoints-topic", tpTopic, "--conversions-topic", cvTopic,
		"--partitions", fmt.Sprint(partitions), "--create-topics", "--conversions-first")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dec := schemas.NewDecoder(nil)
	var lastConv, firstTouch time.Time
	for _, c := range []struct {
		topic, file string
		key         func([]byte) (string, error)
	}{
		{tpTopic, "touchpoints.ndjson", func(b []byte) (string, error) { tp, err := dec.Touchpoint(b); return tp.Key(), err }},
		{cvTopic, "conversions.ndjson", func(b []byte) (string, error) { cv, err := dec.Conversion(b); return cv.Key(), err }},
	} {
		lines := readLines(t, filepath.Join(dir, c.file))
		wantByKey := map[string][]string{}
		for _, l := range lines {
			k, err := c.key([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			wantByKey[k] = append(wantByKey[k], l)
		}
		got := readTopic(t, addr, c.topic, partitions)
		gotByKey := map[string][]string{}
		n := 0
		balancer := &kafka.Murmur2Balancer{}
		for p, msgs := range got {
			for _, m := range msgs {
				n++
				k, err := c.key(m.Value)
				if err != nil {
					t.Fatalf("%s: %v", c.topic, err)
				}
				if string(m.Key) != k {
					t.Fatalf("%s: message key %q, attribution key %q", c.topic, m.Key, k)
				}
				if want := balancer.Balance(kafka.Message{Key: m.Key}, []int{0, 1, 2}...); want != p {
					t.Fatalf("%s: key %q in partition %d, murmur2 says %d", c.topic, m.Key, p, want)
				}
				gotByKey[k] = append(gotByKey[k], string(m.Value))
				if c.topic == cvTopic && m.Time.After(lastConv) {
					lastConv = m.Time
				}
				if c.topic == tpTopic && (firstTouch.IsZero() || m.Time.Before(firstTouch)) {
					firstTouch = m.Time
				}
			}
		}
		if n != len(lines) || n == 0 {
			t.Errorf("%s: %d messages, %d events generated", c.topic, n, len(lines))
		}
		for k, want := range wantByKey {
			if strings.Join(gotByKey[k], "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: events of key %q differ from the file (or its order)", c.topic, k)
				break
			}
		}
	}
	if lastConv.After(firstTouch) {
		t.Errorf("--conversions-first: a conversion was produced at %s, after the first touchpoint at %s", lastConv, firstTouch)
	}

	code, _, stderr = runSubcommand("generate", "--users", "10", "--kafka", addr, "--touchpoints-topic", tpTopic,
		"--conversions-topic", cvTopic, "--partitions", "2", "--create-topics")
	if want := fmt.Sprintf("topic %q has 3 partitions, want 2", tpTopic); code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("existing topic with another partition count: exit %d, stderr:\n%s\nwant %q", code, stderr, want)
	}
}
