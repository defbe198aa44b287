package source_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/source"
)

// Closing the forwarder while records are still being queued (an idle
// partition's marks, a shard's forwards) returns promptly and fails
// nothing: a record queued after Close is refused (Forward returns false),
// not written into a closing kafka-go Writer, which could hang Close for
// ever (segmentio/kafka-go#1307; seen as an instance that did not exit on
// SIGTERM).
func TestForwarderCloseWhileForwarding(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	repart := source.RepartitionTopic(env.Group)
	env.CreateTopic(repart, 2)
	src := kafkaSource(t, env, source.Config{RepartitionTopic: repart})
	var failures atomic.Int64
	for round := range 20 {
		fwd := src.NewForwarder(func(err error) { failures.Add(1); t.Logf("round %d: forwarder failed: %v", round, err) })
		var wg sync.WaitGroup
		var acked atomic.Int64
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					f := &flow.Forward{Home: (w + i) % 2, Key: "dev-1", Kind: flow.KindMove, Move: flow.Move{Anon: "dev-1", From: "dev-1", To: "u1"},
						Ack: flow.Ack{To: ackCounter{&acked}}}
					if !fwd.Forward(context.Background(), f) {
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- fwd.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("round %d: Close: %v", round, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: Close did not return within 20s while records were being forwarded", round)
		}
		wg.Wait()
		if acked.Load() == 0 {
			t.Logf("round %d: nothing acknowledged before Close", round)
		}
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("the forwarder failed %d times: a record refused after Close is no failure", n)
	}
}

type ackCounter struct{ n *atomic.Int64 }

func (a ackCounter) Done(int64) { a.n.Add(1) }
