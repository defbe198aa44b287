package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// randomBalancer puts each message in a random partition, as a producer
// without keys (or the sticky partitioner) does.
func randomBalancer(seed uint64) kafka.Balancer {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	return kafka.BalancerFunc(func(_ kafka.Message, parts ...int) int {
		mu.Lock()
		defer mu.Unlock()
		return parts[rng.IntN(len(parts))]
	})
}

// partitionFreeEnv makes input topics of 4 (touchpoints), 3 (conversions)
// and 2 (spend) partitions and fills them with partitioners other than
// murmur2: librdkafka's CRC32 for touchpoints, random for conversions and
// spend. Almost every event is then consumed away from its home.
func partitionFreeEnv(t *testing.T, seed uint64, events int) (*pipelinetest.Env, pipelinetest.Events, int) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 4, ConversionPartitions: 3})
	env.CreateTopic(env.Spend, 2)
	ev := pipelinetest.Generate(t, generate.Config{Seed: int64(seed), Events: events})
	producePartitionFree(env, ev, seed)
	var spend []pipelinetest.Msg
	for i := range 20 {
		id := fmt.Sprintf("sp-%d", i)
		spend = append(spend, pipelinetest.Msg{Key: []byte(id), Value: []byte(`{"event_id":"` + id + `","date":"2026-11-27","source":"google","medium":"cpc","campaign":"c` + id + `","cost":10}`)})
	}
	env.ProduceWith(env.Spend, spend, randomBalancer(seed+1))
	return env, ev, len(spend)
}

// producePartitionFree writes ev with partitioners other than murmur2:
// random for the conversions, librdkafka's CRC32 (of the producer's key)
// for the touchpoints and the identity events.
func producePartitionFree(env *pipelinetest.Env, ev pipelinetest.Events, seed uint64) {
	env.ProduceWith(env.Conversions, ev.Conversions, randomBalancer(seed))
	env.ProduceWith(env.Touchpoints, ev.Touchpoints, &kafka.CRC32Balancer{})
	env.ProduceIdentities(ev.Identities, &kafka.CRC32Balancer{})
}

// Streaming equals replay when producers partition as they like: input
// topics of 4, 3 and 2 partitions, filled by CRC32 and random
// partitioners. Events consumed away from their home are forwarded
// through the repartition topic (the counter says so), and the credited
// view is replay's.
func TestPartitionFreeInputEqualsReplay(t *testing.T) {
	env, ev, spend := partitionFreeEnv(t, 141, 30_000)
	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	t.Logf("forwarded %d touchpoints, %d conversions of %d, %d", s.ForwardedTouchpoints, s.ForwardedConversions, len(ev.Touchpoints), len(ev.Conversions))
	if s.ForwardedTouchpoints < int64(len(ev.Touchpoints))/2 || s.ForwardedConversions < int64(len(ev.Conversions))/2 {
		t.Errorf("forwarded %d touchpoints and %d conversions; with these partitioners most of the %d and %d are away from home",
			s.ForwardedTouchpoints, s.ForwardedConversions, len(ev.Touchpoints), len(ev.Conversions))
	}
	// A home releases a conversion only once every input touchpoint
	// partition's mark passed it: none is credited before a touchpoint
	// of its path arrived (the traffic is in time order per partition).
	if s.Reattributed != 0 {
		t.Errorf("%d conversions re-attributed: released before touchpoints forwarded from other partitions arrived", s.Reattributed)
	}
	if s.Spend != int64(spend) {
		t.Errorf("%d spend events consumed, want %d", s.Spend, spend)
	}
	equalReplay(t, env, ev)
	// Every input offset is committed: forwarded ones once Kafka took
	// the copy, the repartition topic's once the rows are durable.
	for _, topic := range []string{env.Touchpoints, env.Conversions, pipeline.RepartitionTopic(env.Group)} {
		end, committed := env.EndOffsets(topic), env.CommittedOffsets(topic)
		for p, e := range end {
			if topic != pipeline.RepartitionTopic(env.Group) && committed[p] != e {
				t.Errorf("%s/%d: committed %d, end %d", topic, p, committed[p], e)
			}
			if topic == pipeline.RepartitionTopic(env.Group) && committed[p] == 0 {
				t.Errorf("%s/%d: nothing committed", topic, p)
			}
		}
	}
}

// Two instances in one group share homes and input partitions of other
// counts; together they write replay's result.
func TestPartitionFreeInputTwoInstances(t *testing.T) {
	env, ev, _ := partitionFreeEnv(t, 142, 30_000)
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	runners := runCaughtUp(ctx, t, env, 2)
	for i, r := range runners {
		s := r.Snapshot()
		t.Logf("instance %d: %d touchpoints, %d conversions, %d forwarded, %d attributed", i, s.Touchpoints, s.Conversions, s.ForwardedTouchpoints+s.ForwardedConversions, s.Attributed)
	}
	equalReplay(t, env, ev)
}

// Input keyed by the attribution key with murmur2, into as many partitions
// as the repartition topic, takes the direct path: nothing is forwarded.
func TestDirectPathForwardsNothing(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 4})
	ev := pipelinetest.Generate(t, generate.Config{Seed: 143, Events: 20_000})
	env.ProduceEvents(ev)
	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	if s.ForwardedTouchpoints != 0 || s.ForwardedConversions != 0 {
		t.Errorf("forwarded %d touchpoints and %d conversions of murmur2-keyed input; want none", s.ForwardedTouchpoints, s.ForwardedConversions)
	}
	equalReplay(t, env, ev)
}

// The repartition topic's partition count is the number of homes: an
// existing topic of another count than the flag is refused at start,
// naming both; without the flag the existing count is taken.
func TestRepartitionCountMismatchRefused(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 4})
	env.CreateTopic(pipeline.RepartitionTopic(env.Group), 3)
	cfg := env.Config()
	cfg.RepartitionPartitions = 5
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	r, err := pipeline.NewRunner(ctx, cfg)
	if err == nil {
		r.Close()
		t.Fatal("NewRunner accepted --repartition-partitions 5 over an existing topic of 3")
	}
	for _, want := range []string{pipeline.RepartitionTopic(env.Group), "has 3 partitions", "--repartition-partitions is 5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	cfg.RepartitionPartitions = 0
	r, err = pipeline.NewRunner(ctx, cfg)
	if err != nil {
		t.Fatalf("NewRunner without the flag over an existing topic of 3: %v", err)
	}
	r.Close()
}

// `attributor run` over partition-free input, killed with SIGKILL while it
// forwards (no drain, no commit, copies in flight), then run again until
// caught up: the copies re-sent by the second run dedup by event_id, and
// the view is exactly replay's. (No service is stopped: this runs in the
// normal suite.)
func TestPartitionFreeInputAcrossSIGKILL(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 4, ConversionPartitions: 3})
	ev := restartEvents(t, 144)
	producePartitionFree(env, ev, 144)
	killThenCatchUp(t, env)
	equalReplay(t, env, ev)
}

// killThenCatchUp runs `attributor run` on env until it has written
// credited rows and forwarded events, kills it with SIGKILL (no drain, no
// commit, copies in flight), checks it left work behind, then runs it
// again until caught up. extra are more flags of the killed run.
func killThenCatchUp(t *testing.T, env *pipelinetest.Env, extra ...string) {
	t.Helper()
	args := append(append([]string{"run", "--progress", "0", "--flush-rows", "2000"}, extra...), env.Args()...)

	p := pipelinetest.Start(t, args...)
	if n := env.WaitRows("attributed_conversions", 1, time.Minute, p.Exited); n == 0 {
		code, out := p.Wait(time.Second)
		t.Fatalf("attributor exited (code %d) before writing any credited row:\n%s", code, out)
	}
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	assertMidRun(t, env)
	rep := pipeline.RepartitionTopic(env.Group)
	var forwarded int64
	for _, end := range env.EndOffsets(rep) {
		forwarded += end
	}
	if forwarded == 0 {
		t.Fatal("nothing was forwarded before the kill")
	}
	t.Logf("killed with %d records in the repartition topic", forwarded)

	final := append([]string{"run", "--until-caught-up", "--progress", "0"}, env.Args()...)
	start := time.Now()
	code, out := pipelinetest.RunBinary(t, 3*time.Minute, final...)
	if code != 0 {
		t.Fatalf("run after the kill: exit code %d; output:\n%s", code, out)
	}
	t.Logf("run after the kill: %s\n%s", time.Since(start).Round(time.Second), out)
}
