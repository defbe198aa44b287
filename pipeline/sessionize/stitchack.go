package sessionize

import (
	"sync"
	"sync/atomic"

	"github.com/attributor/attributor/pipeline/flow"
)

// When a link may be acknowledged (docs/DESIGN.md, "As built: stitching",
// "Acks and crashes"). A crash makes the links consumed since the last
// commit come again, and the link table rebuilt from `links` says which of
// them decides: only a re-consumed deciding link sends its moves again.
// So a link that takes over as the deciding one (a relink, or an earlier
// link to the same user) must not be committed while a move of its device
// sent before it is not yet in Kafka: after a crash right then, the link
// whose move that was would come again no longer deciding, and its move
// would be lost (the device's events credited to the wrong user) or only
// half done. The forwarder acknowledges each home partition on its own,
// so a move's being in Kafka says nothing of an earlier move to another
// home. A takeover's ack therefore also waits until every move of its
// device sent from a link here is in Kafka. Without one under way (nearly
// always) that costs a map lookup and one atomic read.

// moveGate counts the moves of one device sent (or queued to be sent)
// from its links and not yet in Kafka, and holds the acks of the links
// that wait for them.
type moveGate struct {
	n       atomic.Int32
	mu      sync.Mutex
	waiting []flow.Ack
}

// wait fires ack once no move of the gate is under way.
func (g *moveGate) wait(ack flow.Ack) {
	g.mu.Lock()
	if g.n.Load() > 0 {
		g.waiting = append(g.waiting, ack)
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	ack.Done()
}

// inKafka is the Acker of a move's record: it acknowledges what rode on
// the move, then counts the move done; the last one under way releases
// the waiting acks. It runs on the forwarder's goroutine.
type inKafka struct {
	g   *moveGate
	ack flow.Ack
}

func (k *inKafka) Done(int64) {
	k.ack.Done()
	k.g.mu.Lock()
	var w []flow.Ack
	if k.g.n.Add(-1) == 0 {
		w, k.g.waiting = k.g.waiting, nil
	}
	k.g.mu.Unlock()
	for _, a := range w {
		a.Done()
	}
}

// moveGates are the gates of a shard's devices, touched by its goroutine
// only; a gate with nothing under way is dropped when the map has grown.
type moveGates struct {
	m     map[string]*moveGate
	prune int // the size at which gates with nothing under way are dropped
}

// busy returns anon's gate when a move of it is under way, else nil.
func (gs *moveGates) busy(anon string) *moveGate {
	if g := gs.m[anon]; g != nil && g.n.Load() > 0 {
		return g
	}
	return nil
}

// get returns anon's gate, made if needed.
func (gs *moveGates) get(anon string) *moveGate {
	if g := gs.m[anon]; g != nil {
		return g
	}
	if gs.m == nil {
		gs.m = map[string]*moveGate{}
	}
	if len(gs.m) >= gs.prune {
		for k, g := range gs.m {
			if g.n.Load() == 0 {
				delete(gs.m, k)
			}
		}
		gs.prune = max(64, 2*len(gs.m))
	}
	g := &moveGate{}
	gs.m[retained(anon)] = g // anon may be a view of its event's block
	return g
}

// linkMove queues move m, sent by a link of device m.Anon at its home (or
// a deciding link consumed again), once durable, with the link's ack: it
// rides on the move, and when another move of the device is under way it
// also waits for that one to be in Kafka.
func (s *Shard) linkMove(m flow.Move, ack flow.Ack) {
	g := s.gates.get(m.Anon)
	if g.n.Add(1) > 1 {
		// Released when this move and every one before it are in
		// Kafka: n counts them all.
		g.wait(ack)
		ack = flow.Ack{}
	}
	s.afterMove(m, flow.Ack{To: &inKafka{g: g, ack: ack}, Offset: ack.Offset})
}

// ackTakeover acknowledges a link that took over as device anon's
// deciding link without moving it (an earlier link to the same user): with
// its unit, and, while a move of the device is under way, once that is in
// Kafka too.
func (s *Shard) ackTakeover(anon string, ack flow.Ack) {
	if g := s.gates.busy(anon); g != nil {
		ack = flow.SplitAck(ack, 2)
		g.wait(ack)
	}
	s.u.Acks = append(s.u.Acks, ack)
}
