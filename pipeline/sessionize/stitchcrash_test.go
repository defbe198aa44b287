package sessionize

import (
	"slices"
	"testing"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
)

// ackUnits fires the acks the shard put in its units that were not fired
// yet: the sink made them durable.
func ackUnits(out *recordingOutput, fired *int) {
	var all []flow.Ack
	for _, u := range out.units {
		all = append(all, u.Acks...)
	}
	for _, a := range all[*fired:] {
		a.Done()
	}
	*fired = len(all)
}

// moveOf returns the one move among sent, failing otherwise.
func moveOf(t *testing.T, sent []flow.Forward) flow.Forward {
	t.Helper()
	if len(sent) != 1 || sent[0].Kind != flow.KindMove {
		t.Fatalf("forwarded %+v, want one move", sent)
	}
	return sent[0]
}

// Race 2: a move-out processed after the device came back to the user it
// leaves (a relink back, whose move-in reached this home first; or the
// move-out consumed again) must drop nothing: the stored links, read with
// the batch, name that user. Before the fix the move-out took the device's
// click out of u1's journey, so cv-u1 lost it for good (the move-in it
// sent on was stale at u2 and loaded nothing either).
func TestShardStaleMoveOutDropsNothing(t *testing.T) {
	hist := &memHistory{linked: map[string]string{"a1": "u1"}}
	s, out, fwd, _ := stitchShard(t, 1, hist)
	flush(t, s, click("tp-u1", "u1", "", t0-3*3600_000), purchase("cv-u1", "u1", "", t0))
	hist.stored.Touchpoints["a1"] = []attribution.Touchpoint{{ID: "tp-anon", TimeMs: t0 - 2*3600_000, Channel: "affiliate"}}
	acks := &ackCounter{}
	// a1 is u1's again (u1 → u2 → u1): the newer move-in came first.
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u1", Move: flow.Move{Anon: "a1", From: "u2", To: "u1"}, Ack: flow.Ack{To: acks, Offset: 20}})
	if p := creditedPaths(out)["cv-u1"]; !slices.Equal(p.path, []string{"tp-u1", "tp-anon"}) {
		t.Fatalf("cv-u1 = %+v after the move-in, want [tp-u1 tp-anon]", p)
	}
	// The older move-out of a1 from u1 (to u2) arrives now.
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u1", Move: flow.Move{Anon: "a1", From: "u1", To: "u2", Out: true}, Ack: flow.Ack{To: acks, Offset: 21}})
	if p := creditedPaths(out)["cv-u1"]; !slices.Equal(p.path, []string{"tp-u1", "tp-anon"}) {
		t.Fatalf("cv-u1 = %+v after a stale move-out, want [tp-u1 tp-anon]: a1 is u1's", p)
	}
	if sent := fwd.take(); len(sent) != 0 {
		t.Fatalf("forwarded %+v after a stale move-out, want nothing", sent)
	}
	if !slices.Contains(unitAcks(out), 21) {
		t.Fatalf("acks in units %v, want the stale move-out's (21)", unitAcks(out))
	}
	// The same move-out, current (the links name u2), drops the device.
	hist.linked["a1"] = "u2"
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u1", Move: flow.Move{Anon: "a1", From: "u1", To: "u2", Out: true}, Ack: flow.Ack{To: acks, Offset: 22}})
	if p := creditedPaths(out)["cv-u1"]; !slices.Equal(p.path, []string{"tp-u1"}) {
		t.Fatalf("cv-u1 = %+v after a current move-out, want [tp-u1]", p)
	}
	if m := moveOf(t, fwd.take()); m.Move != (flow.Move{Anon: "a1", From: "u1", To: "u2"}) {
		t.Fatalf("forwarded %+v, want the move-in of a1 to u2", m)
	}
}

// Race 1: an earlier link to the same user takes over as the deciding
// link while the first link's move-in is not yet in Kafka. Acked with its
// unit, its offset could be committed first; a crash then, and the first
// link, consumed again, is no longer the deciding one: its move would
// never be sent. Its ack must wait for the move-in. Before the fix it
// fired with its unit.
func TestShardEarlierLinkWaitsForMovesUnderWay(t *testing.T) {
	s, out, _, acks, in := firstMoveUnderWay(t)
	fired := 0
	flush(t, s, identity("id-0", "a1", "u1", t0-2*3600_000, acks, 2)) // Earlier
	ackUnits(out, &fired)
	if len(acks.done) != 0 {
		t.Fatalf("acks %v before the move-in was in Kafka, want none", acks.done)
	}
	in.Ack.Done()
	if slices.Sort(acks.done); !slices.Equal(acks.done, []int64{1, 2}) {
		t.Fatalf("acks %v once the move-in is in Kafka, want [1 2]", acks.done)
	}
	// No move under way: a further earlier link rides on its unit alone.
	flush(t, s, identity("id-00", "a1", "u1", t0-3*3600_000, acks, 3))
	ackUnits(out, &fired)
	if !slices.Contains(acks.done, 3) {
		t.Fatalf("acks %v, want 3 with its unit", acks.done)
	}
}

// Race 3: a relink while the device's first move is under way. Its own
// move-out goes to the same home as the move-in here, but with another
// user between them (or other homes) the forwarder acknowledges homes
// independently: the relink's ack must wait for every move of the device
// sent before its own, or a crash right after its commit leaves the first
// link's move lost (the first link, consumed again, no longer decides)
// or half done. Before the fix it fired with its own move-out.
func TestShardRelinkWaitsForMovesUnderWay(t *testing.T) {
	s, out, fwd, acks, in := firstMoveUnderWay(t)
	fired := 0
	flush(t, s, identity("id-0", "a1", "u2", t0-2*3600_000, acks, 2)) // Relinked
	outM := moveOf(t, fwd.take())
	if outM.Move != (flow.Move{Anon: "a1", From: "u1", To: "u2", Out: true}) {
		t.Fatalf("forwarded %+v, want the move-out of a1 from u1", outM)
	}
	ackUnits(out, &fired)
	outM.Ack.Done()
	if slices.Contains(acks.done, 2) {
		t.Fatalf("acks %v: the relink acknowledged before the first move-in was in Kafka", acks.done)
	}
	in.Ack.Done()
	if slices.Sort(acks.done); !slices.Equal(acks.done, []int64{1, 2}) {
		t.Fatalf("acks %v once both moves are in Kafka, want [1 2]", acks.done)
	}
}

// firstMoveUnderWay is a shard at which device a1, with a click, was
// linked to u1 (identity id-1, ack offset 1): the move-in it sent, in,
// is not yet acknowledged by Kafka.
func firstMoveUnderWay(t *testing.T) (s *Shard, out *recordingOutput, fwd *fwdRecorder, acks *ackCounter, in flow.Forward) {
	t.Helper()
	s, out, fwd, _ = stitchShard(t, 1, &memHistory{})
	acks = &ackCounter{}
	flush(t, s, click("tp-anon", "", "a1", t0-2*3600_000), identity("id-1", "a1", "u1", t0-3600_000, acks, 1))
	return s, out, fwd, acks, moveOf(t, fwd.take())
}
