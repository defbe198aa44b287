package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/pipeline/checkpoint"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/history"
	"github.com/attributor/attributor/pipeline/sessionize"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/pipeline/source"
	"github.com/attributor/attributor/schemas"
)

// drainTimeout bounds the drain at the end of a generation: what is not
// durable by then stays uncommitted and is consumed again.
const drainTimeout = 25 * time.Second

// genRun is one consumer-group generation: its stages, upstream first
// (fetchers → shards → sink), and the offset trackers the commit reads.
type genRun struct {
	r   *Runner
	gen *kafka.Generation
	log *slog.Logger

	snk     *sink.Sink
	shards  []*sessionize.Shard
	workers sync.WaitGroup // the sink and the shards
	fatal   chan error     // a shard that failed, or the sink on an unusable table
	stopped error          // a table is unusable: the run ends with it

	stitch bool                               // identity stitching: the identities topic exists
	ends   map[string]map[int]source.LogRange // with UntilCaughtUp: the inputs' offsets at the run's start
	rejoin bool                               // caught up, but a member left with records for its homes: join the next generation
	fwd    *source.Forwarder                  // to the other homes: the fetchers' forwards and the shards'
	links  [][]schemas.Link                   // per shard, the stored links of its devices at this member's homes

	trackers  map[string]map[int]*checkpoint.Tracker
	rt        *source.Routing // homes owned, and the forwarder to the others
	fetchers  []*source.Fetcher
	fetching  sync.WaitGroup
	inputs    []chan<- []flow.Item // the shards' queues
	direct    source.Direct        // to the sink, for what needs no shard
	stopFetch context.CancelFunc
	caughtUp  chan struct{} // closed when every fetcher reached its end offset
}

// generation runs one consumer-group generation with fresh state and
// returns true when the run is over (shutdown or caught up), false on a
// rebalance. Caught up, it fails if what it consumed could not all be
// written and committed: exiting 0 would claim work that was not done. State is rebuilt from the committed offsets and ClickHouse at
// every generation, so no partition's state outlives its ownership.
func (r *Runner) generation(runCtx, genCtx context.Context, gen *kafka.Generation, ends map[string]map[int]source.LogRange) (bool, error) {
	g := &genRun{r: r, gen: gen, log: r.cfg.Logger.With("generation", gen.ID), ends: ends}
	wctx, stopWork := context.WithCancel(context.Background())
	defer stopWork()

	start, over, ok, err := g.loadState(runCtx, genCtx, wctx)
	if err != nil {
		return true, err
	}
	if !ok {
		return over, nil
	}
	if err := g.startStages(wctx, start); err != nil {
		return false, err
	}
	defer g.stopStages(stopWork)
	g.startFetchers(wctx, ends)
	g.log.Info("generation started", "member", gen.MemberID, "assignments", assignmentsString(gen.Assignments))

	reachedEnd, over := g.wait(runCtx, genCtx)
	drained := g.drain(runCtx, genCtx, reachedEnd)
	committed := g.commit()
	g.log.Info("generation ended", "caught_up", reachedEnd)
	if g.stopped != nil {
		return true, g.stopped
	}
	if g.rejoin { // set only by a caught-up generation's settle
		// Another member left with records for its homes unconsumed:
		// the next generation owns them.
		g.log.Info("caught up, but a member left with records in the repartition topic for its homes: joining the next generation to consume them")
		return false, nil
	}
	if reachedEnd {
		if err := g.caughtUpError(drained, committed); err != nil {
			return true, err
		}
	}
	return over, nil
}

// loadState reads what the shards start from: the frontiers, and per
// shard the keys with stored events, retrying while ClickHouse fails. ok
// is false when the run or the generation ended first; over then says
// which. A table missing (unusable) is an error: retrying cannot help.
func (g *genRun) loadState(runCtx, genCtx, wctx context.Context) (start []sessionize.Start, over, ok bool, err error) {
	r := g.r
	var frontiers, watermarks map[int32]int64
	stored := make([]map[uint64]uint8, r.cfg.Shards)
	g.stitch = r.src.Stitching
	for {
		var err error
		untilMs := time.Now().Add(r.cfg.MaxFutureSkew).UnixMilli()
		if frontiers, err = history.LoadFrontiers(wctx, r.conn, r.cfg.ClickHouse.Database, untilMs); err == nil {
			if watermarks, err = r.loadStored(wctx, g.gen, stored, untilMs); err == nil {
				if err = g.loadLinks(wctx, stored); err == nil {
					break
				}
			}
		}
		if sink.Classify(err) == sink.Unusable {
			return nil, true, false, fmt.Errorf("clickhouse: loading state: %w", err)
		}
		g.log.Warn("clickhouse: loading state failed; retrying", "err", err)
		select {
		case <-runCtx.Done():
			return nil, true, false, nil
		case <-genCtx.Done():
			return nil, false, false, nil
		case <-time.After(time.Second):
		}
	}
	start = make([]sessionize.Start, r.cfg.Shards)
	for i := range start {
		start[i] = sessionize.Start{Frontiers: frontiers, Watermarks: watermarks, Stored: stored[i], Sources: r.src.Parts[r.cfg.TouchpointsTopic],
			Homes: r.src.Homes, Shards: r.cfg.Shards}
		if g.stitch {
			start[i].Links = g.links[i]
		}
	}
	return start, false, true, nil
}

// loadLinks reads, with stitching, the stored links of the devices whose
// home this member owns, per shard, and marks the users some device was
// linked to as having history (it may be stored under the devices' ids
// only).
func (g *genRun) loadLinks(ctx context.Context, stored []map[uint64]uint8) error {
	if !g.stitch {
		return nil
	}
	r := g.r
	links, err := history.LoadLinks(ctx, r.conn, r.cfg.ClickHouse.Database, r.ownedHomes(g.gen))
	if err != nil {
		return err
	}
	users, err := history.LoadLinkedUsers(ctx, r.conn, r.cfg.ClickHouse.Database)
	if err != nil {
		return err
	}
	n := uint32(len(stored))
	g.links = make([][]schemas.Link, n)
	for _, l := range links {
		i := murmur3.StringSum32(l.AnonymousID) % n
		g.links[i] = append(g.links[i], l)
	}
	for _, u := range users {
		stored[murmur3.StringSum32(u)%n][sessionize.KeyHash(u)] |= sessionize.StoredEvents | sessionize.StoredConversions
	}
	return nil
}

// startStages starts the sink and the shards, downstream first.
func (g *genRun) startStages(wctx context.Context, start []sessionize.Start) error {
	r := g.r
	snkCfg := r.cfg.sinkConfig()
	snkCfg.Lag = r.st.Lag.Load // kept fresh by wait's observe ticks
	g.snk = sink.New(r.conn, r.dlq, snkCfg, r.st)
	g.snk.DeadMax = r.deadMax
	shardCfg := r.cfg.shardConfig()
	shardCfg.Fits = &r.fits
	shardCfg.Stitch = g.stitch
	g.fatal = make(chan error, r.cfg.Shards+3)
	g.fwd = r.src.NewForwarder(func(err error) {
		select { // a failed forward ends the generation: its input offsets are never acknowledged
		case g.fatal <- err:
		default:
		}
	})
	for i := range start {
		start[i].Fwd = g.fwd
	}
	var histUnusable sync.Once
	hist := sessionize.HistoryFunc(func(ctx context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error) {
		h, err := history.Load(ctx, r.conn, r.cfg.ClickHouse.Database, keys, tpFromMs, convFromMs, g.stitch)
		if err != nil && sink.Classify(err) == sink.Unusable {
			// The shard retries history loads; a missing table ends the
			// run instead (the shard's retry ends with the generation).
			histUnusable.Do(func() { g.fatal <- fmt.Errorf("clickhouse: loading history: %w", err) })
		}
		return h, err
	})
	g.shards = make([]*sessionize.Shard, r.cfg.Shards)
	for i := range g.shards {
		var err error
		if g.shards[i], err = sessionize.New(i, &shardCfg, g.snk, hist, r.st, start[i]); err != nil {
			return err
		}
	}
	g.workers.Add(1)
	go func() {
		defer g.workers.Done()
		if err := g.snk.Run(wctx); err != nil {
			g.fatal <- err // a table is unusable: the run stops with it
		}
	}()
	for i := range g.shards {
		g.workers.Add(1)
		go func(s *sessionize.Shard) {
			defer g.workers.Done()
			if err := s.Run(wctx); err != nil && wctx.Err() == nil {
				g.fatal <- err
			}
		}(g.shards[i])
	}
	return nil
}

// stopStages stops the shards and the sink and waits for them.
func (g *genRun) stopStages(stopWork context.CancelFunc) {
	stopWork()
	g.workers.Wait()
	g.r.st.UsersInMemory.Store(0)
	g.r.st.Pending.Store(0)
}

// startFetchers starts one fetcher per assigned partition, each from its
// committed offset and, with ends (--until-caught-up), up to its end; the
// fetchers of the repartition topic then run until every input partition
// has forwarded all it had before its end.
func (g *genRun) startFetchers(wctx context.Context, ends map[string]map[int]source.LogRange) {
	g.trackers = map[string]map[int]*checkpoint.Tracker{}
	src := g.r.src
	g.rt = &source.Routing{
		Topic: src.Cfg.RepartitionTopic, Homes: src.Homes, Owned: map[int]bool{},
		Inputs: src.Inputs(),
		Ends:   ends,
	}
	for _, pa := range g.gen.Assignments[g.rt.Topic] {
		g.rt.Owned[pa.ID] = true
	}
	g.rt.Fwd = g.fwd
	fctx, stopFetch := context.WithCancel(wctx)
	g.stopFetch = stopFetch
	var remaining atomic.Int64
	g.caughtUp = make(chan struct{})
	inputs := make([]chan<- []flow.Item, len(g.shards))
	for i, s := range g.shards {
		inputs[i] = s.In
	}
	direct := source.DirectFunc(func(ctx context.Context, u *flow.Unit) bool { return g.snk.Send(ctx, -1, 0, u) })
	g.inputs, g.direct = inputs, direct
	for topic, assigned := range g.gen.Assignments {
		g.trackers[topic] = map[int]*checkpoint.Tracker{}
		for _, pa := range assigned {
			start := pa.Offset
			t := checkpoint.NewTracker(max(start, 0))
			g.trackers[topic][pa.ID] = t
			end := int64(-1)
			if ends != nil && topic == g.rt.Topic {
				remaining.Add(1)
			} else if ends != nil {
				lr := ends[topic][pa.ID]
				end = lr.End
				if start < 0 {
					// No committed offset: the group starts at the log start.
					start = lr.First
				}
				remaining.Add(1)
			}
			f := src.NewFetcher(topic, pa.ID, start, end, t, inputs, direct, g.rt)
			g.fetchers = append(g.fetchers, f)
			g.fetching.Add(1)
			go func() {
				defer g.fetching.Done()
				f.Run(fctx)
				if f.ReachedEnd() && remaining.Add(-1) == 0 {
					close(g.caughtUp)
				}
			}()
		}
	}
	if ends != nil && remaining.Load() == 0 {
		close(g.caughtUp)
	}
}

// wait commits and observes every CommitInterval until the generation
// ends: caught up, the run stopped, a rebalance, or a failed shard.
func (g *genRun) wait(runCtx, genCtx context.Context) (reachedEnd, over bool) {
	ticker := time.NewTicker(g.r.cfg.CommitInterval)
	defer ticker.Stop()
	// The sink sizes its batches by the lag (sink.Config.Lag): observe it
	// every flush interval too, not only at commits.
	observe := time.NewTicker(min(g.r.cfg.FlushInterval, g.r.cfg.CommitInterval))
	defer observe.Stop()
	for {
		select {
		case <-observe.C:
			g.r.observe(g.fetchers)
		case <-ticker.C:
			g.commit()
			g.r.observe(g.fetchers)
		case <-g.caughtUp:
			return true, true
		case <-runCtx.Done():
			return false, true
		case <-genCtx.Done():
			return false, false
		case err := <-g.fatal:
			g.log.Error("worker failed", "err", err)
			if sink.Classify(err) == sink.Unusable { // a table cannot take or give rows
				g.stopped = err
				return false, true
			}
			return false, false
		}
	}
}

// drain stops upstream first, then drains: shards hand what they hold to
// the sink (attributing every pending conversion when caught up), the sink
// writes. With stitching, the shards then send the moves whose units are
// durable, and a caught-up generation settles (see settle). It returns
// false when that did not finish within drainTimeout (settleTimeout).
func (g *genRun) drain(runCtx, genCtx context.Context, reachedEnd bool) bool {
	g.stopFetch()
	g.fetching.Wait()
	kind := flow.KindBarrier
	if reachedEnd {
		kind = flow.KindFlushAll
	}
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), drainTimeout)
	defer cancelDrain()
	drained := g.stopped == nil && // with the sink stopped, nothing more becomes durable
		g.flushShards(drainCtx, kind) && g.flushSink(drainCtx)
	if drained && g.stitch {
		// A second barrier: the moves whose units the sink just made
		// durable go out.
		drained = g.flushShards(drainCtx, flow.KindBarrier)
		if drained && reachedEnd {
			drained = g.settle(runCtx, genCtx)
		}
	}
	// The forwards queued: written (their input offsets acknowledged) or
	// failed before the commit. With Kafka away, kafka-go retries each
	// batch; what is not written within drainTimeout stays uncommitted
	// and is forwarded again by the next generation.
	closed := make(chan error, 1)
	go func() { closed <- g.fwd.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			g.log.Warn("closing the forwarder", "err", err)
		}
	case <-time.After(drainTimeout):
		g.log.Warn("forwarded copies not acknowledged within the drain timeout: their input offsets stay uncommitted", "timeout", drainTimeout)
	}
	if !drained && g.stopped == nil {
		g.log.Warn("drain incomplete: uncommitted events will be consumed again")
	}
	return drained
}

// settleTimeout bounds each of a caught-up generation's settling rounds
// (not the wait for the other members, which only the group bounds: a
// member that died is dropped after its session timeout).
const settleTimeout = 10 * time.Minute

// groupSettleWait is how long a settled member waits before it looks at
// its homes and the group's offsets again.
const groupSettleWait = 100 * time.Millisecond

// flushShards sends every shard an item of kind (KindBarrier or
// KindFlushAll) and waits for their replies.
func (g *genRun) flushShards(ctx context.Context, kind flow.ItemKind) bool {
	for _, s := range g.shards {
		reply := make(chan struct{})
		select {
		case s.In <- []flow.Item{{Kind: kind, Reply: reply}}:
		case <-ctx.Done():
			return false
		}
		select {
		case <-reply:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// flushSink waits until everything handed to the sink is durable.
func (g *genRun) flushSink(ctx context.Context) bool {
	barrier := make(chan error, 1)
	select {
	case g.snk.In <- sink.Msg{Barrier: barrier}:
	case <-ctx.Done():
		return false
	}
	select {
	case err := <-barrier:
		return err == nil
	case <-ctx.Done():
		return false
	}
}

// settle finishes a caught-up generation with stitching: the shards send
// devices' events to their users' homes and moves after the inputs' final
// marks, so the homes this member owns are consumed again up to their
// ends, in rounds, each followed by a flush of the shards, the sink and
// the moves, until a round finds nothing new. Then the offsets are
// committed, and the member ends only once the whole group settled
// (source.GroupSettled): every input partition and every home committed
// up to its end, the other members' homes included. Until then another
// member may still send records to this member's homes (they are
// consumed in the next rounds), and a home whose owner left before
// consuming what was sent to it makes the group rebalance (genCtx ends):
// the generation then ends with g.rejoin set, and the next one, which
// owns that home, consumes it. Before the check a member that settled its
// own homes left, and a move another member sent there just after stayed
// unconsumed when that member ended too (TestStitchedTwoInstances).
func (g *genRun) settle(runCtx, genCtx context.Context) bool {
	var owned []int
	for p := range g.rt.Owned {
		owned = append(owned, p)
	}
	slices.Sort(owned)
	for round := 1; ; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		more, ok := g.settleRound(ctx, owned)
		if ok && !more {
			ok = g.commit() == nil
		}
		var settled bool
		var pending string
		if ok && !more {
			var err error
			if settled, pending, err = g.r.src.GroupSettled(ctx, g.r.cfg.Group, g.ends); err != nil {
				g.log.Warn("settling: reading the group's offsets", "err", err)
				ok = false
			}
		}
		cancel()
		switch {
		case !ok:
			return false
		case more:
			g.log.Debug("settling: consumed what the shards forwarded", "round", round)
			continue
		case settled || g.outstanding() > 0:
			// Outstanding messages of its own: caughtUpError says so.
			return true
		}
		if round == 1 || round%100 == 0 {
			g.log.Debug("settling: waiting for the group", "behind", pending)
		}
		select {
		case <-genCtx.Done():
			// A member left or joined. Settled since (the one that left
			// finished its homes), this member is done; otherwise the
			// next generation takes over the homes left behind.
			ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
			settled, _, err := g.r.src.GroupSettled(ctx, g.r.cfg.Group, g.ends)
			cancel()
			g.rejoin = err != nil || !settled
			return true
		case <-runCtx.Done():
			// Stopped: what this member consumed is durable and
			// committed; the rest is the next owners'.
			return true
		case <-time.After(groupSettleWait):
		}
	}
}

// settleRound consumes the owned homes from where their fetchers stopped
// to their ends now, then flushes the shards, the sink and the moves.
// more is false when there was nothing to consume; ok false when ctx
// ended or Kafka failed first.
func (g *genRun) settleRound(ctx context.Context, owned []int) (more, ok bool) {
	if !g.fwd.Flush(ctx) {
		return false, false
	}
	ends, err := g.r.src.RepartitionEnds(ctx, owned)
	if err != nil {
		g.log.Warn("settling: reading the repartition topic's ends", "err", err)
		return false, false
	}
	next := map[int]int64{}
	for _, f := range g.fetchers {
		if f.Topic() == g.rt.Topic {
			next[f.Partition()] = max(next[f.Partition()], f.Next())
		}
	}
	var wg sync.WaitGroup
	for _, p := range owned {
		if next[p] >= ends[p] {
			continue
		}
		f := g.r.src.NewFetcher(g.rt.Topic, p, next[p], ends[p], g.trackers[g.rt.Topic][p], g.inputs, g.direct, g.rt)
		g.fetchers = append(g.fetchers, f)
		more = true
		wg.Go(func() { f.Run(ctx) })
	}
	if !more {
		return false, true
	}
	if !waitGroupCtx(ctx, &wg) {
		return true, false
	}
	return true, g.flushShards(ctx, flow.KindFlushAll) && g.flushSink(ctx) && g.flushShards(ctx, flow.KindBarrier)
}

// waitGroupCtx waits for wg, or ctx to end (false).
func waitGroupCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		<-done // the fetchers stop with ctx
		return false
	}
}

// commit commits, per partition, the offset after the contiguous prefix
// of messages that are durable, when it moved.
func (g *genRun) commit() error {
	offsets := map[string]map[int]int64{}
	for topic, ps := range g.trackers {
		for p, t := range ps {
			if off, moved := t.Committable(); moved {
				if offsets[topic] == nil {
					offsets[topic] = map[int]int64{}
				}
				offsets[topic][p] = off
			}
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := g.gen.CommitOffsets(offsets); err != nil {
		g.log.Warn("commit failed", "err", err)
		// Mark them dirty again so the next commit retries.
		for topic, ps := range offsets {
			for p := range ps {
				g.trackers[topic][p].Retry()
			}
		}
		return err
	}
	g.r.st.Commits.Add(1)
	return nil
}

// outstanding counts the messages consumed and not yet durable.
func (g *genRun) outstanding() int {
	n := 0
	for _, ps := range g.trackers {
		for _, t := range ps {
			n += t.Outstanding()
		}
	}
	return n
}

// caughtUpError says why a caught-up run must not exit 0: the drain did
// not finish, messages are not durable, or the final commit failed.
func (g *genRun) caughtUpError(drained bool, committed error) error {
	outstanding := g.outstanding()
	switch {
	case !drained:
		return fmt.Errorf("caught up, but ClickHouse or Kafka did not take everything within the drain timeout; %d messages stay uncommitted and will be consumed again", outstanding)
	case outstanding > 0:
		return fmt.Errorf("caught up, but %d messages are not durable; they stay uncommitted and will be consumed again", outstanding)
	case committed != nil:
		return fmt.Errorf("caught up and written, but the final commit failed (the rows are durable; a rerun rewrites them): %w", committed)
	}
	return nil
}

// observe publishes consumer lag and watermark delay from the fetchers.
func (r *Runner) observe(fetchers []*source.Fetcher) {
	var lag int64
	slowest := int64(-1)
	for _, f := range fetchers {
		lag += f.Lag()
		if f.Topic() == r.cfg.TouchpointsTopic {
			if wm := f.Watermark(); wm > 0 && (slowest < 0 || wm < slowest) {
				slowest = wm
			}
		}
	}
	r.st.Lag.Store(lag)
	if slowest > 0 {
		r.st.WatermarkDelay.Store(time.Now().UnixMilli() - slowest)
	}
}

// ownedHomes returns the repartition partitions gen assigned this member:
// the homes whose keys' state it holds.
func (r *Runner) ownedHomes(gen *kafka.Generation) []int32 {
	var homes []int32
	for _, pa := range gen.Assignments[r.src.Cfg.RepartitionTopic] {
		homes = append(homes, int32(pa.ID))
	}
	return homes
}

// loadStored fills, per shard, the hashes of the keys that have events stored
// for this generation's home partitions within reach of any window, and
// returns where each home's watermark stood: the latest touchpoint stored
// for it. Starting from there, what is too late does not depend on
// restarts.
func (r *Runner) loadStored(ctx context.Context, gen *kafka.Generation, stored []map[uint64]uint8, untilMs int64) (map[int32]int64, error) {
	parts := r.ownedHomes(gen)
	db := r.cfg.ClickHouse.Database
	latest, err := history.LatestTouchpoints(ctx, r.conn, db, parts, untilMs)
	if err != nil {
		return nil, err
	}
	oldest := int64(math.MaxInt64)
	for _, p := range parts {
		oldest = min(oldest, latest[p])
	}
	if len(parts) == 0 {
		oldest = 0
	}
	reach := (r.cfg.Horizon + r.cfg.AllowedLateness + r.cfg.Attribution.Lookback).Milliseconds()
	tpKeys, convKeys, err := history.LoadStoredKeys(ctx, r.conn, db, parts, oldest-reach)
	if err != nil {
		return nil, err
	}
	for i := range stored {
		stored[i] = map[uint64]uint8{}
	}
	n := uint32(len(stored))
	for _, k := range tpKeys {
		stored[murmur3.StringSum32(k)%n][sessionize.KeyHash(k)] |= sessionize.StoredEvents
	}
	for _, k := range convKeys {
		stored[murmur3.StringSum32(k)%n][sessionize.KeyHash(k)] |= sessionize.StoredEvents | sessionize.StoredConversions
	}
	return latest, nil
}

func assignmentsString(a map[string][]kafka.PartitionAssignment) string {
	s := ""
	for t, ps := range a {
		s += t + ":"
		for _, p := range ps {
			s += fmt.Sprintf(" %d@%d", p.ID, p.Offset)
		}
		s += "; "
	}
	return s
}
