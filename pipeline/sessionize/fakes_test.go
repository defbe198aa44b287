package sessionize

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// recordingOutput is an Output that keeps every unit it is sent, and says
// durable whatever the test stores in acked.
type recordingOutput struct {
	mu    sync.Mutex
	units []*flow.Unit
	acked atomic.Uint64
}

var _ Output = (*recordingOutput)(nil)

func (o *recordingOutput) Send(_ context.Context, _ int, _ uint64, u *flow.Unit) bool {
	o.mu.Lock()
	o.units = append(o.units, u)
	o.mu.Unlock()
	return true
}

func (o *recordingOutput) Acked(int) uint64 { return o.acked.Load() }

// memHistory is a History over what a test stored: every touchpoint and
// conversion of a key, filtered by time as the ClickHouse one does.
type memHistory struct {
	stored  flow.History
	linked  map[string]string   // anonymous_id → the user its stored links decide
	devices map[string][]string // user → the anonymous_ids its stored links decide
	loads   [][]string          // the keys of each Load
}

func (h *memHistory) Load(_ context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error) {
	h.loads = append(h.loads, append([]string(nil), keys...))
	out := flow.History{Touchpoints: map[string][]attribution.Touchpoint{}, Conversions: map[string][]schemas.Conversion{}}
	var devs []string
	for _, k := range keys {
		if ds := h.devices[k]; len(ds) > 0 {
			if out.Devices == nil {
				out.Devices = map[string][]string{}
			}
			out.Devices[k] = ds
			devs = append(devs, ds...)
		}
	}
	for _, k := range append(keys, devs...) {
		if u, ok := h.linked[k]; ok {
			if out.Linked == nil {
				out.Linked = map[string]string{}
			}
			out.Linked[k] = u
		}
		for _, tp := range h.stored.Touchpoints[k] {
			if tp.TimeMs >= tpFromMs {
				out.Touchpoints[k] = append(out.Touchpoints[k], tp)
			}
		}
		for _, cv := range h.stored.Conversions[k] {
			if cv.TimeMs >= convFromMs {
				out.Conversions[k] = append(out.Conversions[k], cv)
			}
		}
	}
	for _, cvs := range out.Conversions {
		for _, cv := range cvs {
			if days, ok := h.stored.Days[cv.EventID]; ok {
				if out.Days == nil {
					out.Days = map[string][]int32{}
				}
				out.Days[cv.EventID] = days
			}
		}
	}
	return out, nil
}

// newTestShard is New for tests: one shard, no error expected.
func newTestShard(tb testing.TB, cfg *Config, out Output, hist History, st *flow.Stats) *Shard {
	tb.Helper()
	s, err := New(0, cfg, out, hist, st, Start{Stored: map[uint64]uint8{}})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
