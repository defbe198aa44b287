package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/source"
)

// A caught-up instance with stitching ends only once the whole group
// settled: while another member owns homes holding records it has not
// consumed (here a member that never consumes, as one that died or left
// right after another sent it a move), the instance waits; when that
// member leaves, the group rebalances and the instance's next generation
// consumes those homes, then ends. Before, it ended as soon as its own
// homes were settled, and the records stayed in the repartition topic
// (TestStitchedTwoInstances failed so under load).
func TestCaughtUpInstanceWaitsForHomesOfOtherMembers(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	rep := pipeline.RepartitionTopic(env.Group)
	const homes = 4 // stitchOptions' touchpoints partitions
	env.CreateTopic(rep, homes)

	// A member subscribed to the repartition topic only: it takes a share
	// of the homes and never consumes them.
	fctx, stopF := context.WithCancel(context.Background())
	defer stopF()
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: env.Group, Brokers: []string{env.Kafka}, Topics: []string{rep},
		GroupBalancers: []kafka.GroupBalancer{source.CoPartitionBalancer{}}, StartOffset: kafka.FirstOffset,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second, JoinGroupBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			group.Close()
		}
	}()
	owned := make(chan []int, 16)
	go func() {
		for {
			gen, err := group.Next(fctx)
			if err != nil {
				return
			}
			var ps []int
			for _, pa := range gen.Assignments[rep] {
				ps = append(ps, pa.ID)
			}
			owned <- ps
			gen.Start(func(ctx context.Context) { <-ctx.Done() })
		}
	}()
	next := func(what string) []int {
		t.Helper()
		select {
		case ps := <-owned:
			return ps
		case <-time.After(time.Minute):
			t.Fatalf("the idle member got no generation %s", what)
			return nil
		}
	}
	if ps := next("alone"); len(ps) != homes {
		t.Fatalf("the idle member alone owns homes %v, want all %d", ps, homes)
	}

	// A touchpoint forwarded to every home, as another member's shard
	// forwards a device's event to its user's home.
	for h := range homes {
		user := ""
		for i := 0; user == "" || flow.Home(user, homes) != h; i++ {
			user = fmt.Sprintf("u-home%d-%d", h, i)
		}
		value := fmt.Sprintf(`{"event_id":"tp-%d","user_id":%q,"timestamp":"2026-11-27T10:00:00Z","interaction":"click","source":"google","medium":"cpc"}`, h, user)
		msg := kafka.Message{Key: []byte(user), Value: []byte(value), Headers: []kafka.Header{
			{Key: source.HeaderKind, Value: []byte("touchpoint")}, {Key: source.HeaderKey, Value: []byte(user)},
			{Key: source.HeaderOriginTopic, Value: []byte(env.Touchpoints)}, {Key: source.HeaderOriginPartition, Value: []byte("0")},
			{Key: source.HeaderOriginOffset, Value: []byte(fmt.Sprint(100 + h))},
		}}
		// Right after the topic's creation a broker may not yet lead the
		// partition it was asked for: try again.
		for try := 1; ; try++ {
			conn, err := kafka.DialLeader(context.Background(), "tcp", env.Kafka, rep, h)
			if err == nil {
				_, err = conn.WriteMessages(msg)
				conn.Close()
			}
			if err == nil {
				break
			}
			if try == 20 {
				t.Fatalf("write to home %d: %v", h, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	r := newRunner(ctx, t, env, true)
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	shared := next("beside the instance")
	if len(shared) == 0 || len(shared) == homes {
		t.Fatalf("beside the instance the idle member owns homes %v, want a share", shared)
	}
	// The inputs are empty: the instance catches up at once and settles
	// its own homes; the idle member's hold a record each.
	select {
	case err := <-errc:
		t.Fatalf("the caught-up instance ended (err %v) while homes %v of another member held records nobody consumed", err, shared)
	case <-time.After(5 * time.Second):
	}
	stopF()
	group.Close()
	closed = true
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("the instance did not end within %s of the idle member leaving", pipelinetest.RunTimeout)
	}
	committed, ends := env.CommittedOffsets(rep), env.EndOffsets(rep)
	for h, end := range ends {
		if committed[h] != end {
			t.Errorf("home %d: committed %d, end %d", h, committed[h], end)
		}
	}
	if n := env.Count("touchpoints"); n != homes {
		t.Errorf("%d touchpoints stored, want the %d forwarded", n, homes)
	}
}
