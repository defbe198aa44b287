package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// Messages produced to a partition their attribution key does not hash to
// (as kcat's default partitioner does) are forwarded to their home and
// credited, and not silently: they are counted per topic (and as
// forwarded), and the first ones are logged at info with the partition
// they came from, their home and the producer setting that gives the
// direct path. Correctly partitioned traffic counts none.
func TestMisPartitionedMessagesAreCountedAndLogged(t *testing.T) {
	const parts = 4
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: parts})
	env.ProduceEvents(pipelinetest.Generate(t, generate.Config{Seed: 71, Users: 300}))

	want := func(key string) int {
		all := []int{0, 1, 2, 3}
		return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(key)}, all...)
	}
	wrong := func(topic string, msgs []kafka.Message) {
		tr := &kafka.Transport{DialTimeout: 5 * time.Second}
		defer tr.CloseIdleConnections()
		w := &kafka.Writer{
			Addr: kafka.TCP(env.Kafka), Transport: tr, Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
			Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return (want(string(m.Key)) + 1) % parts }),
		}
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	var tps, cvs []kafka.Message
	for i := range 15 {
		u := fmt.Sprintf("misplaced-%d", i)
		tps = append(tps, kafka.Message{Key: []byte(u), Value: []byte(`{"event_id":"mis-tp-` + u + `","user_id":"` + u + `","timestamp":"2026-11-27T10:00:00Z","source":"google","medium":"cpc"}`)})
		if i < 4 {
			cvs = append(cvs, kafka.Message{Key: []byte(u), Value: []byte(`{"event_id":"mis-cv-` + u + `","user_id":"` + u + `","timestamp":"2026-11-27T10:05:00Z","revenue":5,"currency":"EUR"}`)})
		}
	}
	wrong(env.Touchpoints, tps)
	wrong(env.Conversions, cvs)

	logs := &syncBuffer{}
	cfg := env.Config()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := pipelinetest.RunUntilCaughtUp(t, cfg)
	if s.MispartitionedTouchpoints != int64(len(tps)) || s.MispartitionedConversions != int64(len(cvs)) {
		t.Errorf("mis-partitioned: %d touchpoints, %d conversions; want %d, %d", s.MispartitionedTouchpoints, s.MispartitionedConversions, len(tps), len(cvs))
	}
	if s.ForwardedTouchpoints != int64(len(tps)) || s.ForwardedConversions != int64(len(cvs)) {
		t.Errorf("forwarded: %d touchpoints, %d conversions; want %d, %d", s.ForwardedTouchpoints, s.ForwardedConversions, len(tps), len(cvs))
	}
	// Processed as any other message: the conversions are credited.
	credited := pipelinetest.Conversions(env.Credited())
	for _, m := range cvs {
		if id := "mis-cv-" + string(m.Key); !credited[id] {
			t.Errorf("conversion %s in the wrong partition is not credited", id)
		}
	}
	out := logs.String()
	logged := strings.Count(out, "msg=\"message consumed away from its key's home partition")
	if logged != 10 {
		t.Errorf("%d mis-partitioned messages logged one by one, want the first 10", logged)
	}
	if !strings.Contains(out, "more messages away from their key's home partition") {
		t.Error("no line saying the rest are only counted")
	}
	if !strings.Contains(out, "kcat -X partitioner=murmur2_random") {
		t.Errorf("the log does not name the producer setting that fixes it:\n%s", out)
	}
	// Each logged line names the partition the message came from and the
	// one its key hashes to.
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "home partition: forwarded") {
			continue
		}
		var key string
		var partition, expected int
		for _, f := range strings.Fields(line) {
			switch k, v, ok := strings.Cut(f, "="); {
			case !ok:
			case k == "key" && key == "":
				key = v
			case k == "partition":
				fmt.Sscan(v, &partition)
			case k == "home_partition":
				fmt.Sscan(v, &expected)
			}
		}
		if expected != want(key) || partition != (want(key)+1)%parts {
			t.Errorf("logged key %q in partition %d, expected %d; it was produced to %d and hashes to %d", key, partition, expected, (want(key)+1)%parts, want(key))
		}
	}
}
