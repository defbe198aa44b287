package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/source/fetch"
)

// slowConn answers every request late: the first read after a write
// waits delay, as a broker on a machine whose cores are busy does.
type slowConn struct {
	net.Conn
	delay   time.Duration
	mu      sync.Mutex
	written bool
	closed  chan struct{}
	once    sync.Once
}

func newSlowConn(c net.Conn, delay time.Duration) *slowConn {
	return &slowConn{Conn: c, delay: delay, closed: make(chan struct{})}
}

func (c *slowConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *slowConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.written = true
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *slowConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	wait, delay := c.written, c.delay
	c.written = false
	c.mu.Unlock()
	if wait {
		select { // a read on a closed connection returns at once
		case <-time.After(delay):
		case <-c.closed:
		}
	}
	return c.Conn.Read(b)
}

// dialerTo returns a dialer whose connections are made by wrap (and kept
// in conns, for a test to break them).
func dialerTo(wrap func(net.Conn) net.Conn) (*kafka.Dialer, func() []net.Conn) {
	var mu sync.Mutex
	var conns []net.Conn
	d := &kafka.Dialer{Timeout: 10 * time.Second, DialFunc: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c = wrap(c)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c, nil
	}}
	return d, func() []net.Conn { mu.Lock(); defer mu.Unlock(); return append([]net.Conn(nil), conns...) }
}

func numbered(from, n int) []pipelinetest.Msg {
	msgs := make([]pipelinetest.Msg, n)
	for i := range msgs {
		msgs[i] = pipelinetest.Msg{Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i)}
	}
	return msgs
}

// readN reads n messages from l and checks that they are the messages
// numbered from..from+n-1 at offsets from.., with the partition's high
// watermark.
func readN(t *testing.T, l *fetch.Loop, from, n int, hwm int64) {
	t.Helper()
	for i := range n {
		m, _, err := l.Next()
		if err != nil {
			t.Fatalf("message %d: %v", from+i, err)
		}
		if m.Offset != int64(from+i) || string(m.Key) != fmt.Sprintf("k%d", from+i) || string(m.Value) != fmt.Sprintf("v%d", from+i) {
			t.Fatalf("message %d: offset %d key %q value %q", from+i, m.Offset, m.Key, m.Value)
		}
		if hwm > 0 && m.HighWaterMark != hwm {
			t.Fatalf("message %d: high watermark %d, want %d", from+i, m.HighWaterMark, hwm)
		}
	}
}

// A broker that answers a fetch later than its MaxWait (one core busy)
// is slow, not gone: the loop waits for the answer on the same
// connection. kafka-go's Reader set the read deadline to MaxWait from the
// request and redialed the leader after each such answer.
func TestFetchLoopWaitsForLateAnswers(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	d, _ := dialerTo(func(c net.Conn) net.Conn { return newSlowConn(c, 300*time.Millisecond) })
	var fetches atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := fetch.Start(ctx, fetch.Config{Dialer: d, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: -1, Fetches: &fetches})
	defer l.Close()
	for round := range 3 {
		env.Produce(env.Touchpoints, numbered(round*10, 10))
		readN(t, l, round*10, 10, int64(round*10+10))
	}
	// Nothing more: fetches end empty after their wait (answered late
	// too), which is no failure either.
	time.AfterFunc(1500*time.Millisecond, cancel)
	if m, _, err := l.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("past the end: got offset %d, err %v; want the context's end", m.Offset, err)
	}
	if n := l.Dials(); n != 1 {
		t.Errorf("%d connections to the leader, want 1: a late answer was taken for a broken connection", n)
	}
	if lag, known := l.Lag(); !known || lag != 0 {
		t.Errorf("lag %d (known %v) at the end of the log, want 0", lag, known)
	}
	if fetches.Load() < 4 {
		t.Errorf("%d fetches counted, want at least 4", fetches.Load())
	}
}

// Producers compress their batches with any codec Kafka has; every one
// is decoded, keys, values and headers intact, in offset order.
func TestFetchLoopReadsCompressedBatches(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	codecs := []kafka.Compression{kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const per = 40
	for c, codec := range codecs {
		tr := &kafka.Transport{} // a fresh metadata cache: the topic is new
		w := &kafka.Writer{Addr: kafka.TCP(env.Kafka), Transport: tr, Topic: env.Touchpoints, Compression: codec, RequiredAcks: kafka.RequireAll,
			BatchSize: per, BatchTimeout: time.Millisecond}
		msgs := make([]kafka.Message, per)
		for i := range msgs {
			n := c*per + i
			msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", n), Value: fmt.Appendf(nil, "v%d", n),
				Headers: []kafka.Header{{Key: "codec", Value: []byte(codec.String())}}}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce with %s: %v", codec, err)
		}
		w.Close()
		tr.CloseIdleConnections()
	}
	l := fetch.Start(ctx, fetch.Config{Dialer: &kafka.Dialer{Timeout: 10 * time.Second}, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: -1})
	defer l.Close()
	for n := range len(codecs) * per {
		m, _, err := l.Next()
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		codec := codecs[n/per].String()
		if m.Offset != int64(n) || string(m.Key) != fmt.Sprintf("k%d", n) || string(m.Value) != fmt.Sprintf("v%d", n) ||
			len(m.Headers) != 1 || string(m.Headers[0].Value) != codec || m.Time.IsZero() {
			t.Fatalf("message %d (%s): offset %d key %q value %q headers %v time %v", n, codec, m.Offset, m.Key, m.Value, m.Headers, m.Time)
		}
	}
}

// A connection that breaks (a broker restart, a leader that moved and
// closed it) is redialed through the brokers' metadata, and fetching
// goes on from the next offset: nothing read twice, nothing missed; the
// failure is returned, for the fetcher to log.
func TestFetchLoopResumesOnANewConnection(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	d, conns := dialerTo(func(c net.Conn) net.Conn { return c })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := fetch.Start(ctx, fetch.Config{Dialer: d, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: 0})
	defer l.Close()
	env.Produce(env.Touchpoints, numbered(0, 5))
	readN(t, l, 0, 5, 5)
	for _, c := range conns() {
		c.Close()
	}
	env.Produce(env.Touchpoints, numbered(5, 5))
	if _, _, err := l.Next(); err == nil {
		t.Fatal("a fetch on a closed connection succeeded")
	}
	readN(t, l, 5, 5, 10)
	if n := l.Dials(); n != 2 {
		t.Errorf("%d connections to the leader, want 2", n)
	}
}

// A fetch waiting on the broker ends as soon as the context does: a
// shutdown or a rebalance does not wait for the broker's answer.
func TestFetchLoopStopsWithTheContext(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	env.Produce(env.Touchpoints, numbered(0, 1))
	var slow sync.Map
	d, _ := dialerTo(func(c net.Conn) net.Conn {
		s := newSlowConn(c, 0)
		slow.Store(s, true)
		return s
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := fetch.Start(ctx, fetch.Config{Dialer: d, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: 0})
	defer l.Close()
	readN(t, l, 0, 1, 1)
	slow.Range(func(k, _ any) bool {
		s := k.(*slowConn)
		s.mu.Lock()
		s.delay = time.Minute
		s.mu.Unlock()
		return true
	})
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := l.Next()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next: %v, want the context's cancellation", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Next returned %s after the context ended", el-200*time.Millisecond)
	}
}

// An offset past the end of the log (the topic was recreated) is an
// error each time it is tried, not a silent wait; fetching starts once
// the offset exists.
func TestFetchLoopOffsetPastTheEnd(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := fetch.Start(ctx, fetch.Config{Dialer: &kafka.Dialer{Timeout: 10 * time.Second}, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: 3})
	defer l.Close()
	for range 2 {
		if _, _, err := l.Next(); err == nil || !strings.Contains(err.Error(), "offset 3 is past the end") {
			t.Fatalf("Next at offset 3 of an empty log: %v, want an error naming the offset", err)
		}
	}
	env.Produce(env.Touchpoints, numbered(0, 5))
	// The loop tries again on its own (after a wait): an attempt may have
	// failed again before the messages were written.
	for {
		m, _, err := l.Next()
		if err != nil {
			if !strings.Contains(err.Error(), "offset 3 is past the end") {
				t.Fatalf("Next at offset 3 after it was written: %v", err)
			}
			continue
		}
		if m.Offset != 3 || string(m.Key) != "k3" {
			t.Fatalf("first message: offset %d key %q, want offset 3 key k3", m.Offset, m.Key)
		}
		break
	}
	readN(t, l, 4, 1, 5)
}

// Retention that deletes messages while the loop is behind them, after it
// started, is counted and logged as lost like a gap at the start
// (Config.Skipped), and fetching goes on from the log's new start.
func TestFetchLoopRetentionGapAfterTheStart(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	libs := filepath.Join(filepath.Dir(file), "..", "..", "..", ".cache", "kafka", "libs")
	if _, err := os.Stat(filepath.Join(libs, "kafka-tools-4.1.1.jar")); err != nil {
		t.Skipf("needs Kafka's DeleteRecordsCommand from the jars scripts/services.sh fetches (%v)", err)
	}
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	var logged bytes.Buffer
	var logMu sync.Mutex
	var skipped atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The loop fetches ahead: once 0..2 are read, a fetch from offset 3
	// waits at the broker and would bring 3..9 as soon as they are
	// written. So the connection is broken first and the loop's redial
	// held until the records are deleted: it then finds offset 3 gone.
	gate := make(chan struct{})
	var gated atomic.Bool
	d, conns := dialerTo(func(c net.Conn) net.Conn {
		if gated.Load() {
			<-gate
		}
		return c
	})
	l := fetch.Start(ctx, fetch.Config{Dialer: d, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: 0,
		Log: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil)), Skipped: &skipped})
	defer l.Close()
	openGate := sync.OnceFunc(func() { close(gate) })
	defer openGate() // before Close, which waits for the loop's dial
	env.Produce(env.Touchpoints, numbered(0, 3))
	readN(t, l, 0, 3, 3)
	gated.Store(true)
	for _, c := range conns() {
		c.Close()
	}
	if _, _, err := l.Next(); err == nil {
		t.Fatal("a fetch on a closed connection succeeded")
	}
	env.Produce(env.Touchpoints, numbered(3, 7))
	spec := filepath.Join(t.TempDir(), "delete.json")
	if err := os.WriteFile(spec, fmt.Appendf(nil, `{"partitions":[{"topic":%q,"partition":0,"offset":8}],"version":1}`, env.Touchpoints), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "java", "-cp", libs+"/*", "org.apache.kafka.tools.DeleteRecordsCommand",
		"--bootstrap-server", env.Kafka, "--offset-json-file", spec).CombinedOutput(); err != nil {
		t.Fatalf("delete records below offset 8: %v\n%s", err, out)
	}
	openGate()
	readN(t, l, 8, 2, 10)
	if n := skipped.Load(); n != 5 {
		t.Errorf("skipped %d offsets, want 5 (3..7)", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "deleted by retention") || !strings.Contains(logged.String(), "lost=5") {
		t.Errorf("the gap was not logged: %s", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// While the fetcher routes a message, the loop has already read the rest
// of the answer and sent the next fetch (the loop alone was serial: one
// fetch, then routing, then the next fetch). The messages it holds are
// not routed: Lag counts them, so that an idle mark does not say the
// partition is at its end while they wait.
func TestFetchLoopFetchesAheadWhileRouting(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	var fetches atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env.Produce(env.Touchpoints, numbered(0, 10))
	l := fetch.Start(ctx, fetch.Config{Dialer: &kafka.Dialer{Timeout: 10 * time.Second}, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: 0, Fetches: &fetches})
	defer l.Close()
	readN(t, l, 0, 1, 10)
	// The first message is being routed (Next is not called): the next
	// fetch goes out meanwhile.
	for fetches.Load() < 2 {
		if ctx.Err() != nil {
			t.Fatalf("%d fetches while the first message was routed, want the next one sent ahead", fetches.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if lag, known := l.Lag(); !known || lag != 10 {
		t.Errorf("lag %d (known %v) with 10 messages fetched and none routed, want 10", lag, known)
	}
	readN(t, l, 1, 9, 10)
	if lag, known := l.Lag(); !known || lag != 10 {
		t.Errorf("lag %d (known %v) while the last message is routed, want 10 (a run is released whole, when the next is asked for)", lag, known)
	}
	env.Produce(env.Touchpoints, numbered(10, 5))
	readN(t, l, 10, 5, 15) // the first run released
	if lag, known := l.Lag(); !known || lag != 5 {
		t.Errorf("lag %d (known %v) while the second run of 5 is routed, want 5", lag, known)
	}
}
