package sessionize

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// benchTouchpoints returns users x perUser touchpoints as they travel (JSON
// shaped like the generator's: UUID ids, user_id or only anonymous_id keys,
// a channel named on 70%, source, medium, campaign, cost), in timestamp
// order over a day: round k holds every user's k-th touchpoint.
func benchTouchpoints(users, perUser int) [][]byte {
	type placement struct {
		channel, source, medium string
		campaigns               []string
	}
	placements := []placement{
		{"paid_search", "google", "cpc", []string{"brand", "generic", "black_friday", "competitors"}},
		{"paid_search", "bing", "cpc", []string{"brand", "generic", "black_friday"}},
		{"paid_social", "facebook", "paid_social", []string{"prospecting", "retargeting", "black_friday"}},
		{"display", "gdn", "display", []string{"prospecting", "retargeting", "black_friday"}},
		{"display", "programmatic", "cpm", []string{"prospecting", "retargeting"}},
		{"affiliate", "awin", "affiliate", []string{"cashback", "voucher_codes", "content"}},
		{"email", "newsletter", "email", []string{"newsletter_w47", "newsletter_w48", "cart_reminder"}},
		{"organic_search", "google", "organic", nil},
		{"social", "facebook", "social", nil},
		{"referral", "blog.example.com", "referral", nil},
		{"direct", "(direct)", "(none)", nil},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	n := users * perUser
	out := make([][]byte, 0, n)
	for k := 0; k < perUser; k++ {
		for u := 0; u < users; u++ {
			pl := &placements[rng.IntN(len(placements))]
			hi, lo := rng.Uint64(), rng.Uint64()
			b := fmt.Appendf(nil, `{"event_id":"%08x-%04x-4%03x-%04x-%012x"`, hi>>32, hi>>16&0xffff, hi&0xfff, lo>>48&0x3fff|0x8000, lo&0xffffffffffff)
			anon := fmt.Sprintf("anon-%012x", uint64(u)*0x9e3779b97f4a7c15>>16)
			if u%20 >= 3 { // 15% of users are anonymous
				b = fmt.Appendf(b, `,"user_id":"u%07d"`, u+1)
				if rng.IntN(2) == 0 {
					b = fmt.Appendf(b, `,"anonymous_id":%q`, anon)
				}
			} else {
				b = fmt.Appendf(b, `,"anonymous_id":%q`, anon)
			}
			ms := start + int64(k*users+u)*int64(20*time.Hour/time.Millisecond)/int64(n)
			b = fmt.Appendf(b, `,"timestamp":%q,"interaction":"click"`, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"))
			if rng.Float64() < 0.7 {
				b = fmt.Appendf(b, `,"channel":%q`, pl.channel)
			}
			b = fmt.Appendf(b, `,"source":%q,"medium":%q`, pl.source, pl.medium)
			if len(pl.campaigns) > 0 {
				b = fmt.Appendf(b, `,"campaign":%q,"cost":%d.%02d`, pl.campaigns[rng.IntN(len(pl.campaigns))], rng.IntN(3), rng.IntN(100))
			}
			out = append(out, append(b, '}'))
		}
	}
	return out
}

// BenchmarkShardState fills one shard with users x 5 touchpoints through
// its touchpoint handling, decoded as the fetchers decode them, and reports
// the live heap the shard then holds (after a GC) per held touchpoint: the
// memory that bounds how many users an instance can keep. Users default to
// 100k; BENCH_MEMORY_USERS overrides it. BENCH_HEAP_PROFILE names a file
// for a heap profile taken while the shard is full (go test -memprofile
// comes too late: the shard is garbage by then); read it with
// `go tool pprof -sample_index=inuse_space -top`.
func BenchmarkShardState(b *testing.B) {
	users := 100_000
	if v := os.Getenv("BENCH_MEMORY_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("BENCH_MEMORY_USERS: want a positive integer, got %q", v)
		}
		users = n
	}
	const perUser = 5
	msgs := benchTouchpoints(users, perUser)
	cfg := Config{}.WithDefaults()
	dec := schemas.NewDecoder(schemas.DefaultChannelRules())
	dec.OneBlock = true // as the live stream decodes
	var perTP float64
	for b.Loop() {
		s := newTestShard(b, &cfg, nil, nil, &flow.Stats{})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, m := range msgs {
			tp, err := dec.Touchpoint(m)
			if err != nil {
				b.Fatal(err)
			}
			it := flow.Item{Kind: flow.KindTouchpoint, Partition: int32(i % users % 4), TP: tp}
			s.touchpoint(&it, it.TP.Key())
			if len(s.u.TPs) >= 512 {
				s.u = &flow.Unit{} // what the sink would take
			}
		}
		s.u = &flow.Unit{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s.users.len() != users {
			b.Fatalf("shard holds %d users, want %d", s.users.len(), users)
		}
		perTP = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(msgs))
		if path := os.Getenv("BENCH_HEAP_PROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perTP, "B/held-tp")
	b.ReportMetric(perTP*perUser, "B/user")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkShardTouchpoints times applying touchpoints to one shard's state
// (decoded beforehand): 100k users x 5 touchpoints, in timestamp order, as
// BenchmarkShardState holds them. ns/op is per touchpoint.
func BenchmarkShardTouchpoints(b *testing.B) {
	const users, perUser = 100_000, 5
	msgs := benchTouchpoints(users, perUser)
	cfg := Config{}.WithDefaults()
	dec := schemas.NewDecoder(schemas.DefaultChannelRules())
	dec.OneBlock = true // as the live stream decodes
	items := make([]flow.Item, len(msgs))
	for i, m := range msgs {
		tp, err := dec.Touchpoint(m)
		if err != nil {
			b.Fatal(err)
		}
		items[i] = flow.Item{Kind: flow.KindTouchpoint, Partition: int32(i % users % 4), TP: tp}
	}
	b.ResetTimer()
	var s *Shard
	for i := range b.N {
		k := i % len(items)
		if k == 0 {
			b.StopTimer()
			s = newTestShard(b, &cfg, nil, nil, &flow.Stats{})
			runtime.GC()
			b.StartTimer()
		}
		s.touchpoint(&items[k], items[k].TP.Key())
		if len(s.u.TPs) >= 512 {
			s.u = &flow.Unit{} // what the sink would take
		}
	}
}

// discardOutput is an Output that takes every unit as the sink does once
// its rows are written: back to the pool, durable at once.
type discardOutput struct{ seq atomic.Uint64 }

func (o *discardOutput) Send(_ context.Context, _ int, seq uint64, u *flow.Unit) bool {
	flow.PutUnit(u)
	o.seq.Store(seq)
	return true
}

func (o *discardOutput) Acked(int) uint64 { return o.seq.Load() }

// BenchmarkShardBatches times what a shard does with its queue's items
// (process: touchpoints applied, units handed over), in batches of 256 as
// the shard takes them from its queue when busy: 400k users x 3
// touchpoints in timestamp order, decoded beforehand, so that the users
// outgrow the caches as a busy instance's do. ns/op is per touchpoint.
func BenchmarkShardBatches(b *testing.B) {
	benchShardBatches(b, false)
}

// BenchmarkShardBatchesRandomUsers is BenchmarkShardBatches with each
// round's users in a random order, as a busy instance's traffic comes
// (users in the order they were added to the shard are also in memory
// order: BenchmarkShardBatches's lookups walk the users' memory in order).
func BenchmarkShardBatchesRandomUsers(b *testing.B) {
	benchShardBatches(b, true)
}

func benchShardBatches(b *testing.B, shuffle bool) {
	const users, perUser, batch = 400_000, 3, 256
	msgs := benchTouchpoints(users, perUser)
	if shuffle {
		shuffleRounds(msgs, users, perUser)
	}
	cfg := Config{}.WithDefaults()
	dec := schemas.NewDecoder(schemas.DefaultChannelRules())
	dec.OneBlock = true // as the live stream decodes
	items := make([]flow.Item, len(msgs))
	for i, m := range msgs {
		tp, err := dec.Touchpoint(m)
		if err != nil {
			b.Fatal(err)
		}
		items[i] = flow.Item{Kind: flow.KindTouchpoint, Partition: int32(i % users % 4), TP: tp}
	}
	runShardBatches(b, &cfg, items, batch, nil)
}

// BenchmarkShardLive is BenchmarkShardBatchesRandomUsers with the rest
// of what a shard does in live streaming: every 12th touchpoint is
// followed by a conversion of its user (the generator's share, about 8%
// of events), each batch ends with its partitions' watermark marks, so
// that the conversions are released (and their users looked up again) an
// allowed lateness later, and batches are of 64 items, as a shard takes
// them from its queue at 20k events/s. Timestamps are reassigned in the
// shuffled order, so that nothing arrives late. ns/op is per event.
func BenchmarkShardLive(b *testing.B) {
	const users, perUser, batch, convEvery = 400_000, 3, 64, 12
	msgs := benchTouchpoints(users, perUser)
	shuffleRounds(msgs, users, perUser)
	cfg := Config{}.WithDefaults()
	dec := schemas.NewDecoder(schemas.DefaultChannelRules())
	dec.OneBlock = true // as the live stream decodes
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	step := int64(20*time.Hour/time.Millisecond) / int64(len(msgs)+len(msgs)/convEvery)
	var items []flow.Item
	for i, m := range msgs {
		tp, err := dec.Touchpoint(m)
		if err != nil {
			b.Fatal(err)
		}
		p := int32(i % 4)
		tp.TimeMs = start + int64(len(items))*step
		items = append(items, flow.Item{Kind: flow.KindTouchpoint, Partition: p, TP: tp})
		if i%convEvery == convEvery-1 {
			cv := schemas.Conversion{
				EventID: fmt.Sprintf("conv-%d", i), UserID: tp.UserID, AnonymousID: tp.AnonymousID,
				TimeMs: start + int64(len(items))*step, ConversionType: "purchase", RevenueMicros: 49_990_000, Currency: "EUR",
			}
			items = append(items, flow.Item{Kind: flow.KindConversion, Partition: p, CV: cv})
		}
	}
	runShardBatches(b, &cfg, items, batch, func(buf []flow.Item, k, n int) []flow.Item {
		wm := start + int64(k+n-1)*step
		for p := range int32(4) {
			buf = append(buf, flow.Item{Kind: flow.KindMark, Partition: p, WM: wm})
		}
		return buf
	})
}

// shuffleRounds puts the users of each of msgs' perUser rounds (a
// touchpoint of every user each) in a random order, the same every run.
func shuffleRounds(msgs [][]byte, users, perUser int) {
	rng := rand.New(rand.NewPCG(3, 4))
	for k := range perUser {
		round := msgs[k*users : (k+1)*users]
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
	}
}

// runShardBatches hands items to a shard batch by batch for b.N items, a
// fresh shard for every pass over them, and reports the process's CPU per
// item (cpu-ns/op). after, if not nil, appends to each batch what follows
// items[k:k+n] in it (marks).
func runShardBatches(b *testing.B, cfg *Config, items []flow.Item, batch int, after func(buf []flow.Item, k, n int) []flow.Item) {
	ctx := context.Background()
	var s *Shard
	buf := make([]flow.Item, 0, batch+4)
	var cpu processCPU
	b.ResetTimer()
	cpu.start()
	for done := 0; done < b.N; {
		k := done % len(items)
		if k == 0 {
			b.StopTimer()
			cpu.stop()
			s = newTestShard(b, cfg, &discardOutput{}, nil, &flow.Stats{})
			runtime.GC()
			cpu.start()
			b.StartTimer()
		}
		n := min(batch, len(items)-k, b.N-done)
		buf = append(buf[:0], items[k:k+n]...)
		if after != nil {
			buf = after(buf, k, n)
		}
		if err := s.process(ctx, buf); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	cpu.stop()
	b.ReportMetric(float64(cpu.ns)/float64(b.N), "cpu-ns/op")
}

// processCPU adds up the process's CPU time (user and system, all
// threads: with GOMAXPROCS=1 the garbage collector's too) between start
// and stop: on a machine shared with other work, a benchmark's wall time
// also counts the time it waited for a core, its CPU time does not.
type processCPU struct{ ns, at int64 }

func (c *processCPU) now() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
func (c *processCPU) start() { c.at = c.now() }
func (c *processCPU) stop()  { c.ns += c.now() - c.at }
