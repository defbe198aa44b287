package sink

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// recordingWriter is a dead-letter topic that keeps what it is sent.
type recordingWriter struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (w *recordingWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, msgs...)
	w.mu.Unlock()
	return nil
}

// recordingAcker keeps the offsets acknowledged.
type recordingAcker struct {
	mu   sync.Mutex
	done []int64
}

func (a *recordingAcker) Done(offset int64) {
	a.mu.Lock()
	a.done = append(a.done, offset)
	a.mu.Unlock()
}

// A unit's dead letters reach the dead-letter writer with their reason,
// and only then do its acks fire and its shard's sequence count as durable
// (ack means durable). The unit has no rows, so no ClickHouse is needed.
func TestSinkAcksAfterDeadLettersAreWritten(t *testing.T) {
	w := &recordingWriter{}
	s := New(nil, w, Config{Shards: 1}.WithDefaults(), &flow.Stats{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	acker := &recordingAcker{}
	u := flow.GetUnit()
	dl := flow.DeadLetter{Reason: flow.ReasonInvalid, Err: "invalid json"}
	dl.Msg.Topic, dl.Msg.Partition, dl.Msg.Offset, dl.Msg.Value = "touchpoints", 3, 41, []byte("{")
	u.Dead = append(u.Dead, dl)
	u.Acks = append(u.Acks, flow.Ack{To: acker, Offset: 41})
	sendDurable(ctx, t, s, u, 10*time.Second)
	if len(w.msgs) != 1 {
		t.Fatalf("dead letters written = %d, want 1", len(w.msgs))
	}
	var reason string
	for _, h := range w.msgs[0].Headers {
		if h.Key == "attributor.reason" {
			reason = string(h.Value)
		}
	}
	if reason != flow.ReasonInvalid {
		t.Errorf("reason header = %q, want %q", reason, flow.ReasonInvalid)
	}
	acker.mu.Lock()
	acked := append([]int64(nil), acker.done...)
	acker.mu.Unlock()
	if len(acked) != 1 || acked[0] != 41 {
		t.Errorf("acked offsets = %v, want [41]", acked)
	}
	if got := s.Acked(0); got != 1 {
		t.Errorf("Acked(0) = %d, want 1", got)
	}
	cancel()
	<-done
}

// sendDurable sends u as shard 0's first unit and waits, up to timeout,
// until the sink has written everything it was sent.
func sendDurable(ctx context.Context, t *testing.T, s *Sink, u *flow.Unit, timeout time.Duration) {
	t.Helper()
	if !s.Send(ctx, 0, 1, u) {
		t.Fatal("send refused")
	}
	barrier := make(chan error, 1)
	s.In <- Msg{Barrier: barrier}
	select {
	case err := <-barrier:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(timeout):
		t.Fatal("barrier not reached")
	}
}
