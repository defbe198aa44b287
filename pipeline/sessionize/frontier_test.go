package sessionize

import (
	"slices"
	"testing"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// A partition's frontier (the latest conversion any of its users holds
// credited) decides whether a touchpoint is late, that is, whether it may
// join a credited conversion's path. With stitching a user also holds its
// devices' conversions, credited first at the devices' homes; the
// frontier must cover them too. These two tests failed before it did:
// the device's late touchpoint was taken as not late, and the conversion
// kept its path without it (TestStitchedSIGKILLWithRawRowsHeld, once in a
// clean-clone CI run: a path of 8 touchpoints where replay has 10).

// deviceHistory stores device a1's early click and its conversion cv-a,
// credited at a1's home before the link.
func deviceHistory(hist *memHistory) {
	hist.stored.Touchpoints["a1"] = []attribution.Touchpoint{{ID: "tp-early", TimeMs: t0 - 3*3600_000, Channel: "email"}}
	hist.stored.Conversions["a1"] = []schemas.Conversion{{EventID: "cv-a", AnonymousID: "a1", TimeMs: t0, ConversionType: "signup"}}
}

// lateDeviceClick is a1's click at t0-1h forwarded to u1's home (partition
// p) under u1: it arrived at a1's home after the link.
func lateDeviceClick(p int32) flow.Item {
	it := click("tp-late", "", "a1", t0-3600_000)
	it.UserKey, it.Partition = "u1", p
	return it
}

// The move-in brings cv-a to u1 in a partition that released no
// conversion itself; a1's late click then joins cv-a's path.
func TestShardLateDeviceTouchpointAfterMoveIn(t *testing.T) {
	hist := &memHistory{linked: map[string]string{"a1": "u1"}}
	s, out, _, _ := stitchShard(t, 1, hist)
	deviceHistory(hist)
	flush(t, s, flow.Item{Kind: flow.KindMove, UserKey: "u1", Move: flow.Move{Anon: "a1", From: "a1", To: "u1"}, Ack: flow.Ack{To: &ackCounter{}, Offset: 1}})
	if p := creditedPaths(out)["cv-a"]; !slices.Equal(p.path, []string{"tp-early"}) || p.user != "u1" {
		t.Fatalf("after the move-in: cv-a = %+v, want [tp-early] under u1", p)
	}
	flush(t, s, lateDeviceClick(0))
	if p := creditedPaths(out)["cv-a"]; !slices.Equal(p.path, []string{"tp-early", "tp-late"}) {
		t.Fatalf("after a1's late click: cv-a = %+v, want [tp-early tp-late]", p)
	}
}

// After a restart: cv-a's conversions row carries a1's home partition, so
// u1's home's own stored conversions (none here) say nothing of it. The
// late click must still load u1's history (its device with it) and
// credit cv-a again.
func TestShardLateDeviceTouchpointAfterRestart(t *testing.T) {
	const homes = 2
	p := int32(flow.Home("u1", homes))
	hist := &memHistory{devices: map[string][]string{"u1": {"a1"}}}
	hist.stored = flow.History{Touchpoints: map[string][]attribution.Touchpoint{}, Conversions: map[string][]schemas.Conversion{}}
	deviceHistory(hist)
	cfg := Config{Stitch: true, IdentitiesTopic: "identities"}.WithDefaults()
	out := &recordingOutput{}
	out.acked.Store(1 << 40)
	start := Start{
		Stored: map[uint64]uint8{KeyHash("u1"): StoredEvents | StoredConversions}, // a device was linked to u1
		Homes:  homes, Shards: 1, Fwd: &fwdRecorder{},
		Frontiers: map[int32]int64{1 - p: t0}, // cv-a, released at a1's home
		Links:     []schemas.Link{{AnonymousID: "a1", UserID: "u1", EventID: "id-1", TimeMs: t0 - 2*3600_000}},
	}
	s, err := New(0, &cfg, out, hist, &flow.Stats{}, start)
	if err != nil {
		t.Fatal(err)
	}
	flush(t, s, lateDeviceClick(p))
	if got := creditedPaths(out)["cv-a"]; !slices.Equal(got.path, []string{"tp-early", "tp-late"}) || got.user != "u1" {
		t.Fatalf("after a1's late click: cv-a = %+v, want [tp-early tp-late] under u1", got)
	}
}
