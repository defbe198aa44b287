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
