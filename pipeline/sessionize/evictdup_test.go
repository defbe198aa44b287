package sessionize

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// storeHistory is a History over what the shard itself stored: the rows of
// the units sent to out (all durable at once), as ClickHouse would return
// them. It reads every unit on each load: for small tests.
type storeHistory struct{ out *recordingOutput }

func (h storeHistory) Load(_ context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := flow.History{Touchpoints: map[string][]attribution.Touchpoint{}, Conversions: map[string][]schemas.Conversion{}}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	for _, u := range h.out.units {
		for _, r := range u.TPs {
			if k := r.TP.Key(); want[k] && !r.TooLate && r.TP.TimeMs >= tpFromMs {
				out.Touchpoints[k] = append(out.Touchpoints[k], toAttribution(&r.TP))
			}
		}
		for _, r := range u.Convs {
			if k := r.CV.Key(); want[k] && r.CV.TimeMs >= convFromMs {
				out.Conversions[k] = append(out.Conversions[k], r.CV)
			}
		}
	}
	return out, nil
}

// Live traffic through a shard that holds few users, so that users are
// evicted and reloaded all along; about one touchpoint in ten and one
// conversion in five is sent again a little later, stamped anew (a
// producer's retry under live stamping, as in scripts/soak.sh), the
// touchpoints with another campaign. Every credited set must be at its
// conversion's first time and every path hold each touchpoint's first copy
// (the earliest: replay and the in-memory dedup keep them), whether the
// user was evicted between the copies or not. Before, a conversion re-sent
// after its user's eviction was credited at the later copy's time.
func TestShardEvictedUsersKeepFirstCopies(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { evictedDuplicates(t, seed) })
	}
}

func evictedDuplicates(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := &recordingOutput{}
	out.acked.Store(math.MaxUint64) // every unit durable once sent
	cfg := Config{MaxUsers: 20}.WithDefaults()
	st := &flow.Stats{}
	s := newTestShard(t, &cfg, out, storeHistory{out}, st)
	ctx := context.Background()

	const users, parts = 200, 3
	first := map[string]schemas.Touchpoint{} // event_id: its first copy
	firstCV := map[string]schemas.Conversion{}
	type resend struct {
		tp  schemas.Touchpoint
		cv  *schemas.Conversion
		due int
	}
	var resends []resend
	now := int64(1_764_201_600_000)
	var batch []flow.Item
	partOf := func(key string) int32 { return int32(KeyHash(key) % parts) }
	step := func(it flow.Item) {
		batch = append(batch, it)
		if len(batch) >= 1+rng.IntN(8) {
			if err := s.process(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := range 6000 {
		now += int64(rng.IntN(400))
		for k := 0; k < len(resends); {
			if r := resends[k]; r.due <= i {
				if r.cv != nil {
					cv := *r.cv
					cv.TimeMs = now // stamped anew
					step(flow.Item{Kind: flow.KindConversion, CV: cv, Partition: partOf(cv.Key())})
					resends = append(resends[:k], resends[k+1:]...)
					continue
				}
				r.tp.TimeMs = now // stamped anew
				r.tp.Campaign = fmt.Sprintf("resent-%d", i)
				step(flow.Item{Kind: flow.KindTouchpoint, TP: r.tp, Partition: partOf(r.tp.Key())})
				resends = append(resends[:k], resends[k+1:]...)
				continue
			}
			k++
		}
		key := fmt.Sprintf("u%d", rng.IntN(users))
		p := partOf(key)
		switch r := rng.IntN(10); {
		case r < 7:
			tp := schemas.Touchpoint{EventID: fmt.Sprintf("tp-%d", i), UserID: key, TimeMs: now, Interaction: schemas.InteractionClick,
				Channel: "paid_search", Source: "google", Medium: "cpc", Campaign: fmt.Sprintf("c-%d", i)}
			first[tp.EventID] = tp
			step(flow.Item{Kind: flow.KindTouchpoint, TP: tp, Partition: p})
			if rng.IntN(10) == 0 {
				resends = append(resends, resend{tp: tp, due: i + 1 + rng.IntN(30)})
			}
		case r < 8:
			cv := schemas.Conversion{EventID: fmt.Sprintf("cv-%d", i), UserID: key, TimeMs: now,
				ConversionType: "purchase", RevenueMicros: 1_000_000, Currency: "EUR"}
			firstCV[cv.EventID] = cv
			step(flow.Item{Kind: flow.KindConversion, CV: cv, Partition: p})
			if rng.IntN(5) == 0 {
				resends = append(resends, resend{cv: &cv, due: i + 1 + rng.IntN(60)})
			}
		default:
			for q := range int32(parts) {
				step(flow.Item{Kind: flow.KindMark, Partition: q, WM: now, CaughtUp: true})
			}
		}
		if i%50 == 0 {
			s.sweep()
		}
	}
	reply := make(chan struct{})
	batch = append(batch, flow.Item{Kind: flow.KindFlushAll, Reply: reply})
	if err := s.process(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var sets int
	for _, u := range out.units {
		cr := &u.Credits
		for _, set := range cr.Sets {
			sets++
			if f := firstCV[set.ConversionID]; set.TimeMs != f.TimeMs {
				t.Fatalf("%s credited at %d; its first copy is at %d", set.ConversionID, set.TimeMs, f.TimeMs)
			}
			for _, tp := range cr.Path[set.Path : set.Path+set.PathLen] {
				if f := first[tp.ID]; tp.TimeMs != f.TimeMs || tp.Campaign != f.Campaign {
					t.Fatalf("%s credits %s at %d (campaign %s); its first copy is at %d (campaign %s)",
						set.ConversionID, tp.ID, tp.TimeMs, tp.Campaign, f.TimeMs, f.Campaign)
				}
			}
		}
	}
	if sets == 0 || st.HistoryLoads.Load() == 0 {
		t.Fatalf("%d credited sets, %d history loads: the test exercised nothing", sets, st.HistoryLoads.Load())
	}
}
