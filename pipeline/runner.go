package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/murmur3"

	"github.com/attributor/attributor/pipeline/checkpoint"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/sessionize"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/pipeline/source"
	"github.com/attributor/attributor/schemas"
)

// The sink is the shards' output.
var _ sessionize.Output = (*sink.Sink)(nil)

// Runner is the streaming attributor. Create it with NewRunner, which checks
// the configuration, the services and the schema; then call Run.
type Runner struct {
	cfg     Config
	conn    driver.Conn
	dlq     *kafka.Writer
	deadMax int // the dead-letter topic's max.message.bytes
	src     *source.Source
	st      *flow.Stats

	fits        sessionize.Fits // the newest fits of the data-driven models asked for
	noFitLogged map[string]bool // models whose missing fit was logged
}

// NewRunner validates cfg, connects to ClickHouse and migrates the schema,
// and checks the topics: both must exist with the same number of
// partitions. Every error names what is wrong.
func NewRunner(ctx context.Context, cfg Config) (*Runner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, st: &flow.Stats{Started: time.Now()}}
	r.st.Rejected = &flow.Rejections{Log: cfg.Logger, Limit: cfg.LogRejections}
	src, err := source.New(cfg.sourceConfig(), cfg.Kafka, schemas.NewDecoder(cfg.Channels), r.st)
	if err != nil {
		return nil, err
	}
	r.src = src
	if err := r.checkTopics(ctx); err != nil {
		return nil, err
	}
	conn, err := OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, conn, cfg.ClickHouse.Database); err != nil {
		conn.Close()
		return nil, err
	}
	r.conn = conn
	r.noFitLogged = map[string]bool{}
	if err := r.loadFits(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	r.dlq = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Transport:    src.Conn.Transport(),
		Topic:        cfg.DLQTopic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchBytes:   int64(r.deadMax - sink.RecordSlack/2), // a batch bigger than the topic's limit is refused whole
		MaxAttempts:  5,
		Balancer:     &kafka.Murmur2Balancer{},
	}
	return r, nil
}

// Close releases the connections.
func (r *Runner) Close() error {
	var errs []error
	if r.dlq != nil {
		errs = append(errs, r.dlq.Close())
		// Writer.Close leaves a Transport it was given open.
		if t, ok := r.dlq.Transport.(*kafka.Transport); ok {
			t.CloseIdleConnections()
		}
	}
	if r.src != nil {
		r.src.Close()
	}
	if r.conn != nil {
		errs = append(errs, r.conn.Close())
	}
	return errors.Join(errs...)
}

// Snapshot returns the current counters.
func (r *Runner) Snapshot() Snapshot { return snapshotOf(r.st) }

// checkTopics checks the topics (see source.CheckRunTopics) and reads the
// dead-letter topic's record limit.
func (r *Runner) checkTopics(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := r.src.CheckRunTopics(cctx); err != nil {
		return err
	}
	r.deadMax = r.topicMaxBytes(cctx, r.cfg.DLQTopic)
	return nil
}

// topicMaxBytes returns the largest record batch topic takes (its
// max.message.bytes, which defaults to the broker's message.max.bytes), or
// Kafka's default when the broker does not say (no permission, say).
func (r *Runner) topicMaxBytes(ctx context.Context, topic string) int {
	n, err := r.src.TopicMaxBytes(ctx, topic)
	if err == nil && n > 0 {
		return max(n, sink.MinDeadMax)
	}
	r.cfg.Logger.Warn("cannot read the dead-letter topic's max.message.bytes; dead letters are cut to Kafka's default", "topic", topic, "bytes", sink.DefaultDeadMax, "err", err)
	return sink.DefaultDeadMax
}

// Run consumes until ctx ends (a graceful shutdown: stop fetching, write
// what was consumed, commit) or, with UntilCaughtUp, until everything the
// topics held at start is attributed, written and committed.
func (r *Runner) Run(ctx context.Context) error {
	var ends map[string]map[int]source.LogRange
	if r.cfg.UntilCaughtUp {
		var err error
		if ends, err = r.src.EndOffsets(ctx); err != nil {
			return err
		}
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                r.cfg.Group,
		Brokers:           r.cfg.Brokers,
		Dialer:            r.src.Conn.Dialer(),
		Topics:            r.src.Topics,
		GroupBalancers:    []kafka.GroupBalancer{source.CoPartitionBalancer{}},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  30 * time.Second,
		JoinGroupBackoff:  time.Second,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("join group %q: %w", r.cfg.Group, err)
	}
	// Leaving the group. kafka-go joins the next generation as soon as a
	// generation ends, unless the group is closed first; and a join waits
	// for every other member to rejoin, up to their session timeout (10 s).
	// An instance stopping beside another one would sit in that join. So
	// the group is closed as soon as the run is asked to stop (the drain
	// and commit that follow use the generation's connection, which stays
	// open; heartbeats stop, which matters only if the drain outlasts the
	// session timeout: the commit then fails and the next owner consumes
	// the durable rows again), and once the last generation is done.
	left := make(chan struct{})
	closeGroup := sync.OnceFunc(func() {
		go func() { group.Close(); close(left) }() // sends LeaveGroup
	})
	defer func() {
		closeGroup()
		select {
		case <-left:
		case <-time.After(leaveTimeout):
			// Offsets are committed; the broker drops this member after
			// its session timeout.
			r.cfg.Logger.Info("consumer group: not waiting longer to leave the group", "group", r.cfg.Group, "waited", leaveTimeout)
		}
	}()
	defer context.AfterFunc(ctx, closeGroup)()

	stopProgress := r.progress()
	defer stopProgress()
	fitCtx, stopFits := context.WithCancel(ctx)
	var fitDone sync.WaitGroup
	fitDone.Go(func() { r.fitLoop(fitCtx) })
	defer fitDone.Wait()
	defer stopFits()
	retries := groupRetries{log: r.cfg.Logger, group: r.cfg.Group}
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return nil
			}
			retries.report(err)
			continue
		}
		type result struct {
			over bool
			err  error
		}
		finished := make(chan result, 1)
		gen.Start(func(gctx context.Context) {
			over, err := r.generation(ctx, gctx, gen, ends)
			if over {
				// Close the group before this generation ends (when
				// this function returns), or kafka-go joins the next.
				closeGroup()
				<-gctx.Done()
			}
			finished <- result{over, err}
		})
		if res := <-finished; res.over {
			return res.err
		}
	}
}

// leaveTimeout bounds the wait for kafka-go to leave the group when a run
// ends: offsets are committed by then, so a slow leave only delays the
// exit.
const leaveTimeout = 3 * time.Second

// groupRetries logs why joining a generation failed. The coordinator's
// normal transitions (not yet available on a group's first start, loading,
// moved, a rebalance under way) are logged once each at info, then at
// debug; anything else at warn.
type groupRetries struct {
	log   *slog.Logger
	group string
	seen  map[error]bool
}

func (g *groupRetries) report(err error) {
	for _, normal := range []error{kafka.GroupCoordinatorNotAvailable, kafka.GroupLoadInProgress, kafka.NotCoordinatorForGroup, kafka.RebalanceInProgress} {
		if !errors.Is(err, normal) {
			continue
		}
		if g.seen[normal] {
			g.log.Debug("consumer group: waiting for the coordinator", "group", g.group, "err", err)
			return
		}
		if g.seen == nil {
			g.seen = map[error]bool{}
		}
		g.seen[normal] = true
		g.log.Info("consumer group: waiting for the coordinator (normal while a group starts or rebalances)", "group", g.group, "err", err)
		return
	}
	g.log.Warn("consumer group: retrying", "group", g.group, "err", err)
}

func (r *Runner) progress() func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.cfg.Progress(snapshotOf(r.st))
			}
		}
	}()
	return func() { close(done); r.cfg.Progress(snapshotOf(r.st)) }
}

// generation runs one consumer-group generation with fresh state and
// returns true when the run is over (shutdown or caught up), false on a
// rebalance. Caught up, it fails if what it consumed could not all be
// written and committed: exiting 0 would claim work that was not done. State is rebuilt from the committed offsets and ClickHouse at
// every generation, so no partition's state outlives its ownership.
func (r *Runner) generation(runCtx, genCtx context.Context, gen *kafka.Generation, ends map[string]map[int]source.LogRange) (bool, error) {
	log := r.cfg.Logger.With("generation", gen.ID)
	wctx, stopWork := context.WithCancel(context.Background())
	defer stopWork()

	var frontiers, watermarks map[int32]int64
	stored := make([]map[uint64]uint8, r.cfg.Shards)
	for {
		var err error
		untilMs := time.Now().Add(r.cfg.MaxFutureSkew).UnixMilli()
		if frontiers, err = sink.LoadFrontiers(wctx, r.conn, r.cfg.ClickHouse.Database, untilMs); err == nil {
			if watermarks, err = r.loadStored(wctx, gen, stored, untilMs); err == nil {
				break
			}
		}
		log.Warn("clickhouse: loading state failed; retrying", "err", err)
		select {
		case <-runCtx.Done():
			return true, nil
		case <-genCtx.Done():
			return false, nil
		case <-time.After(time.Second):
		}
	}

	snk := sink.New(r.conn, r.dlq, r.cfg.sinkConfig(), r.st)
	snk.DeadMax = r.deadMax
	shardCfg := r.cfg.shardConfig()
	shardCfg.Fits = &r.fits
	hist := sessionize.HistoryFunc(func(ctx context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error) {
		return sink.LoadHistory(ctx, r.conn, r.cfg.ClickHouse.Database, keys, tpFromMs, convFromMs)
	})
	shards := make([]*sessionize.Shard, r.cfg.Shards)
	for i := range shards {
		var err error
		start := sessionize.Start{Frontiers: frontiers, Watermarks: watermarks, Stored: stored[i]}
		if shards[i], err = sessionize.New(i, &shardCfg, snk, hist, r.st, start); err != nil {
			return false, err
		}
	}
	workers := &sync.WaitGroup{}
	fatal := make(chan error, r.cfg.Shards+1)
	workers.Add(1)
	go func() { defer workers.Done(); snk.Run(wctx) }()
	for i := range shards {
		workers.Add(1)
		go func(s *sessionize.Shard) {
			defer workers.Done()
			if err := s.Run(wctx); err != nil && wctx.Err() == nil {
				fatal <- err
			}
		}(shards[i])
	}
	defer func() {
		stopWork()
		workers.Wait()
		r.st.UsersInMemory.Store(0)
		r.st.Pending.Store(0)
	}()

	// Fetchers, one per assigned partition.
	trackers := map[string]map[int]*checkpoint.Tracker{}
	fctx, stopFetch := context.WithCancel(wctx)
	fetchers := &sync.WaitGroup{}
	var remaining atomic.Int64
	caughtUp := make(chan struct{})
	var all []*source.Fetcher
	inputs := make([]chan<- flow.Item, len(shards))
	for i, s := range shards {
		inputs[i] = s.In
	}
	direct := source.DirectFunc(func(ctx context.Context, u *flow.Unit) bool { return snk.Send(ctx, -1, 0, u) })
	for topic, assigned := range gen.Assignments {
		trackers[topic] = map[int]*checkpoint.Tracker{}
		for _, pa := range assigned {
			start := pa.Offset
			t := checkpoint.NewTracker(max(start, 0))
			trackers[topic][pa.ID] = t
			end := int64(-1)
			if ends != nil {
				lr := ends[topic][pa.ID]
				end = lr.End
				if start < 0 {
					// No committed offset: the group starts at the log start.
					start = lr.First
				}
				remaining.Add(1)
			}
			f := r.src.NewFetcher(topic, pa.ID, start, end, t, inputs, direct)
			all = append(all, f)
			fetchers.Add(1)
			go func() {
				defer fetchers.Done()
				f.Run(fctx)
				if f.ReachedEnd() && remaining.Add(-1) == 0 {
					close(caughtUp)
				}
			}()
		}
	}
	if ends != nil && remaining.Load() == 0 {
		close(caughtUp)
	}
	log.Info("generation started", "member", gen.MemberID, "assignments", assignmentsString(gen.Assignments))

	commit := func() error {
		offsets := map[string]map[int]int64{}
		for topic, ps := range trackers {
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
		if err := gen.CommitOffsets(offsets); err != nil {
			log.Warn("commit failed", "err", err)
			// Mark them dirty again so the next commit retries.
			for topic, ps := range offsets {
				for p := range ps {
					trackers[topic][p].Retry()
				}
			}
			return err
		}
		r.st.Commits.Add(1)
		return nil
	}

	ticker := time.NewTicker(r.cfg.CommitInterval)
	defer ticker.Stop()
	reachedEnd := false
	over := false
loop:
	for {
		select {
		case <-ticker.C:
			commit()
			r.observe(all)
		case <-caughtUp:
			reachedEnd = true
			over = true
			break loop
		case <-runCtx.Done():
			over = true
			break loop
		case <-genCtx.Done():
			break loop
		case err := <-fatal:
			log.Error("worker failed", "err", err)
			break loop
		}
	}

	// Stop upstream first, then drain: shards hand what they hold to the
	// sink (attributing every pending conversion when caught up), the sink
	// writes, and what is durable is committed.
	stopFetch()
	fetchers.Wait()
	kind := flow.KindBarrier
	if reachedEnd {
		kind = flow.KindFlushAll
	}
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancelDrain()
	drained := true
	for _, s := range shards {
		reply := make(chan struct{})
		select {
		case s.In <- flow.Item{Kind: kind, Reply: reply}:
		case <-drainCtx.Done():
			drained = false
		}
		if drained {
			select {
			case <-reply:
			case <-drainCtx.Done():
				drained = false
			}
		}
	}
	if drained {
		barrier := make(chan error, 1)
		select {
		case snk.In <- sink.Msg{Barrier: barrier}:
			select {
			case err := <-barrier:
				drained = err == nil
			case <-drainCtx.Done():
				drained = false
			}
		case <-drainCtx.Done():
			drained = false
		}
	}
	if !drained {
		log.Warn("drain incomplete: uncommitted events will be consumed again")
	}
	committed := commit()
	log.Info("generation ended", "caught_up", reachedEnd)
	if reachedEnd {
		outstanding := 0
		for _, ps := range trackers {
			for _, t := range ps {
				outstanding += t.Outstanding()
			}
		}
		switch {
		case !drained:
			return true, fmt.Errorf("caught up, but ClickHouse or Kafka did not take everything within the drain timeout; %d messages stay uncommitted and will be consumed again", outstanding)
		case outstanding > 0:
			return true, fmt.Errorf("caught up, but %d messages are not durable; they stay uncommitted and will be consumed again", outstanding)
		case committed != nil:
			return true, fmt.Errorf("caught up and written, but the final commit failed (the rows are durable; a rerun rewrites them): %w", committed)
		}
	}
	return over, nil
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

// loadStored fills, per shard, the hashes of the keys that have events stored
// for this generation's partitions within reach of any window, and returns
// where each partition's watermark stood: the latest touchpoint stored for
// it. Starting from there, what is too late does not depend on restarts.
func (r *Runner) loadStored(ctx context.Context, gen *kafka.Generation, stored []map[uint64]uint8, untilMs int64) (map[int32]int64, error) {
	var parts []int32
	for _, pa := range gen.Assignments[r.cfg.TouchpointsTopic] {
		parts = append(parts, int32(pa.ID))
	}
	db := r.cfg.ClickHouse.Database
	latest, err := sink.LatestTouchpoints(ctx, r.conn, db, parts, untilMs)
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
	tpKeys, convKeys, err := sink.LoadStoredKeys(ctx, r.conn, db, parts, oldest-reach)
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
