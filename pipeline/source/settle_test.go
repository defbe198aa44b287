package source_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/source"
	"github.com/attributor/attributor/schemas"
)

// GroupSettled holds only once the group committed every input partition
// up to the run's start ends and every home of the repartition topic up
// to its end now, whichever member owns it: a record another member sends
// to a home after its owner settled makes it false again.
func TestGroupSettled(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	repart := source.RepartitionTopic(env.Group)
	tps := env.Group + ".tp"
	env.CreateTopic(tps, 2)
	env.CreateTopic(repart, 2)
	src := kafkaSource(t, env, source.Config{TouchpointsTopic: tps, RepartitionTopic: repart})
	src.Parts = map[string]int{tps: 2, repart: 2}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	write := func(topic string, partition, n int) {
		t.Helper()
		conn, err := kafka.DialLeader(ctx, "tcp", env.Kafka, topic, partition)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for range n {
			if _, err := conn.WriteMessages(kafka.Message{Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit := func(topic string, partition int, offset int64) {
		t.Helper()
		resp, err := src.Client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: env.Group, GenerationID: -1,
			Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: partition, Offset: offset}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range resp.Topics {
			for _, p := range ps {
				if p.Error != nil {
					t.Fatal(p.Error)
				}
			}
		}
	}
	check := func(want bool, behind string) {
		t.Helper()
		ends := map[string]map[int]source.LogRange{tps: {0: {First: 0, End: 3}, 1: {First: 0, End: 0}}}
		settled, pending, err := src.GroupSettled(ctx, env.Group, ends)
		if err != nil {
			t.Fatal(err)
		}
		if settled != want || !strings.HasPrefix(pending, behind) {
			t.Fatalf("GroupSettled = %v (%q), want %v (%q)", settled, pending, want, behind)
		}
	}
	write(tps, 0, 3)
	write(repart, 1, 2)
	check(false, repart+"/1 committed -1 of 2") // a home with records beyond its offset (none committed)
	commit(repart, 1, 2)
	check(false, tps+"/0 committed -1 of 3") // an input not consumed to its end; tps/1 is empty
	commit(tps, 0, 3)
	check(true, "")
	write(repart, 0, 1) // a move sent to a home whose owner settled
	check(false, repart+"/0 committed -1 of 1")
	commit(repart, 0, 1)
	check(true, "")
}

// kafkaSource is a Source with cfg's topics on the test broker, closed
// with the test.
func kafkaSource(t *testing.T, env *pipelinetest.Env, cfg source.Config) *source.Source {
	t.Helper()
	cfg.Brokers, cfg.Logger = []string{env.Kafka}, slog.New(slog.DiscardHandler)
	src, err := source.New(cfg, source.KafkaSecurity{}, schemas.NewDecoder(nil), &flow.Stats{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}
