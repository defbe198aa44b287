package fetch_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/source/fetch"
)

// BenchmarkFetchLoop is the fetch path's cost per message, as the fetcher
// takes them (Loop.Next, and the loop's fill in its goroutine) from a partition of benchLogLen touchpoints of our shape
// (~220 B) on the real broker, read from its start again at its end. It
// reports the process's CPU per message (cpu-ns/op: user and system, all
// threads; the broker's is not counted), which a machine shared with the
// broker and other work disturbs less than the wall time; and the read
// system calls the process made per 1000 messages (sysreads/1k-msg, from
// /proc/self/io).
func BenchmarkFetchLoop(b *testing.B) {
	const benchLogLen = 100_000
	env := pipelinetest.New(b, pipelinetest.Options{Partitions: 1})
	msgs := make([]pipelinetest.Msg, benchLogLen)
	for i := range msgs {
		user := fmt.Sprintf("user-%07d", i*7919%benchLogLen)
		msgs[i] = pipelinetest.Msg{Key: []byte(user), Value: fmt.Appendf(nil,
			`{"event_id":"tp-%08d","user_id":%q,"anonymous_id":"anon-%07d","timestamp":"2026-11-27T09:%02d:%02d.%03dZ","channel":"paid_search","campaign":"winter-sale","interaction":"click"}`,
			i, user, i, i/60%60, i%60, i%1000)}
	}
	env.Produce(env.Touchpoints, msgs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *fetch.Loop {
		return fetch.Start(ctx, fetch.Config{Dialer: &kafka.Dialer{Timeout: 10 * time.Second}, Brokers: []string{env.Kafka}, Topic: env.Touchpoints, Start: 0})
	}
	l := open()
	// The first pass warms the broker's page cache and our buffers.
	for range benchLogLen {
		if _, _, err := l.Next(); err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	l = open()
	cpu, reads := cpuNow(), sysReads(b)
	b.ReportAllocs()
	for b.Loop() {
		m, _, err := l.Next()
		if err != nil {
			b.Fatal(err)
		}
		if m.Offset == benchLogLen-1 {
			l.Close()
			l = open()
		}
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(sysReads(b)-reads)*1000/float64(b.N), "sysreads/1k-msg")
	l.Close()
}

// cpuNow is the process's CPU time so far (user and system, all threads).
func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// sysReads is how many read system calls the process made so far.
func sysReads(b *testing.B) int64 {
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("read system calls not counted: %v", err)
	}
	for line := range bytes.Lines(io) {
		if v, ok := bytes.CutPrefix(line, []byte("syscr: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				b.Fatalf("/proc/self/io: syscr %q: %v", v, err)
			}
			return n
		}
	}
	b.Fatal("/proc/self/io: no syscr")
	return 0
}
