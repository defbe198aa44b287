package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
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
	"github.com/attributor/attributor/schemas"
)

// The sink is the shards' output.
var _ sessionize.Output = (*sink.Sink)(nil)

// Runner is the streaming attributor. Create it with NewRunner, which checks
// the configuration, the services and the schema; then call Run.
type Runner struct {
	cfg        Config
	conn       driver.Conn
	dlq        *kafka.Writer
	deadMax    int // the dead-letter topic's max.message.bytes
	client     *kafka.Client
	kafka      kafkaConn
	dec        *schemas.Decoder
	st         *flow.Stats
	parts      int      // partitions of each input topic
	topics     []string // subscribed: touchpoints, conversions and, when it exists, spend
	spendParts int
	misLogged  atomic.Int64 // mis-partitioned messages logged this run

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
	r := &Runner{cfg: cfg, dec: schemas.NewDecoder(cfg.Channels), st: &flow.Stats{Started: time.Now()}}
	r.st.Rejected = &flow.Rejections{Log: cfg.Logger, Limit: cfg.LogRejections}
	kc, err := newKafkaConn(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	r.kafka = kc
	r.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: kc.transport()}
	if err := r.checkTopics(ctx); err != nil {
		return nil, err
	}
	conn, err := OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return nil, err
	}
	if err := MigrateConfig(ctx, conn, cfg.ClickHouse); err != nil {
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
		Transport:    kc.transport(),
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
	if r.client != nil {
		if t, ok := r.client.Transport.(*kafka.Transport); ok {
			t.CloseIdleConnections()
		}
	}
	if r.conn != nil {
		errs = append(errs, r.conn.Close())
	}
	return errors.Join(errs...)
}

// Snapshot returns the current counters.
func (r *Runner) Snapshot() Snapshot { return snapshotOf(r.st) }

func (r *Runner) checkTopics(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	topics := []string{r.cfg.TouchpointsTopic, r.cfg.ConversionsTopic, r.cfg.DLQTopic, r.cfg.SpendTopic}
	meta, err := r.client.Metadata(cctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka %v: unreachable: %w", r.cfg.Brokers, err)
	}
	counts := map[string]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return fmt.Errorf("kafka topic %q: %w", t.Name, t.Error)
		}
		counts[t.Name] = len(t.Partitions)
	}
	for _, t := range topics[:2] {
		if counts[t] == 0 {
			return fmt.Errorf("kafka topic %q: does not exist; create the topics with `attributor topics create` (same --brokers and --*-topic flags as run), or give it as many partitions as %q", t, topics[1-indexOf(topics, t)])
		}
	}
	if a, b := counts[topics[0]], counts[topics[1]]; a != b {
		return fmt.Errorf("kafka topics %q (%d partitions) and %q (%d partitions) must have the same partition count: both are keyed by the attribution key so that one instance sees all of a user's events (`attributor topics check` reports every topic problem)",
			topics[0], a, topics[1], b)
	}
	r.parts = counts[topics[0]]
	r.topics = topics[:2]
	if n := counts[r.cfg.SpendTopic]; n > 0 {
		r.topics = append(r.topics, r.cfg.SpendTopic)
		r.spendParts = n
	} else {
		r.cfg.Logger.Info("no spend topic: spend comes from touchpoint costs and imports", "topic", r.cfg.SpendTopic)
	}
	if counts[r.cfg.DLQTopic] == 0 {
		if err := r.createTopic(cctx, r.cfg.DLQTopic, 1); err != nil {
			return fmt.Errorf("kafka dead-letter topic %q: %w", r.cfg.DLQTopic, err)
		}
		r.cfg.Logger.Info("created dead-letter topic", "topic", r.cfg.DLQTopic)
	}
	r.deadMax = r.topicMaxBytes(cctx, r.cfg.DLQTopic)
	return nil
}

// topicMaxBytes returns the largest record batch topic takes (its
// max.message.bytes, which defaults to the broker's message.max.bytes), or
// Kafka's default when the broker does not say (no permission, say).
func (r *Runner) topicMaxBytes(ctx context.Context, topic string) int {
	resp, err := r.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"max.message.bytes"},
	}}})
	if err == nil && len(resp.Resources) == 1 && resp.Resources[0].Error == nil {
		for _, e := range resp.Resources[0].ConfigEntries {
			if n, perr := strconv.Atoi(e.ConfigValue); e.ConfigName == "max.message.bytes" && perr == nil && n > 0 {
				return max(n, sink.MinDeadMax)
			}
		}
	}
	if err == nil && len(resp.Resources) == 1 {
		err = resp.Resources[0].Error
	}
	r.cfg.Logger.Warn("cannot read the dead-letter topic's max.message.bytes; dead letters are cut to Kafka's default", "topic", topic, "bytes", sink.DefaultDeadMax, "err", err)
	return sink.DefaultDeadMax
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func (r *Runner) createTopic(ctx context.Context, topic string, partitions int) error {
	resp, err := r.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: -1}}})
	if err != nil {
		return err
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return err
	}
	return nil
}

// logRange is the first offset and the offset after the last message of a
// partition, when a --until-caught-up run starts; it stops at end.
type logRange struct{ first, end int64 }

// endOffsets returns the offset range of every subscribed partition.
func (r *Runner) endOffsets(ctx context.Context) (map[string]map[int]logRange, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range r.topics {
		n := r.parts
		if t == r.cfg.SpendTopic {
			n = r.spendParts
		}
		for p := 0; p < n; p++ {
			req.Topics[t] = append(req.Topics[t], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
		}
	}
	resp, err := r.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[string]map[int]logRange{}
	for t, ps := range resp.Topics {
		out[t] = map[int]logRange{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("list end offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			out[t][p.Partition] = logRange{first: p.FirstOffset, end: p.LastOffset}
		}
	}
	return out, nil
}

// Run consumes until ctx ends (a graceful shutdown: stop fetching, write
// what was consumed, commit) or, with UntilCaughtUp, until everything the
// topics held at start is attributed, written and committed.
func (r *Runner) Run(ctx context.Context) error {
	var ends map[string]map[int]logRange
	if r.cfg.UntilCaughtUp {
		var err error
		if ends, err = r.endOffsets(ctx); err != nil {
			return err
		}
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                r.cfg.Group,
		Brokers:           r.cfg.Brokers,
		Dialer:            r.kafka.dialer(),
		Topics:            r.topics,
		GroupBalancers:    []kafka.GroupBalancer{coPartitionBalancer{}},
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
func (r *Runner) generation(runCtx, genCtx context.Context, gen *kafka.Generation, ends map[string]map[int]logRange) (bool, error) {
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
	var all []*fetcher
	for topic, assigned := range gen.Assignments {
		trackers[topic] = map[int]*checkpoint.Tracker{}
		for _, pa := range assigned {
			start := pa.Offset
			t := checkpoint.NewTracker(max(start, 0))
			trackers[topic][pa.ID] = t
			end := int64(-1)
			if ends != nil {
				lr := ends[topic][pa.ID]
				end = lr.end
				if start < 0 {
					// No committed offset: the group starts at the log start.
					start = lr.first
				}
				remaining.Add(1)
			}
			f := &fetcher{r: r, topic: topic, partition: pa.ID, start: start, end: end, tracker: t, shards: shards, sink: snk}
			all = append(all, f)
			fetchers.Add(1)
			go func() {
				defer fetchers.Done()
				f.run(fctx)
				if f.reachedEnd && remaining.Add(-1) == 0 {
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
func (r *Runner) observe(fetchers []*fetcher) {
	var lag int64
	slowest := int64(-1)
	for _, f := range fetchers {
		lag += f.lag.Load()
		if f.topic == r.cfg.TouchpointsTopic {
			if wm := f.wm.Load(); wm > 0 && (slowest < 0 || wm < slowest) {
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

// fetcher reads one partition and routes its events to the shards.
type fetcher struct {
	r          *Runner
	topic      string
	partition  int
	start, end int64
	tracker    *checkpoint.Tracker
	shards     []*sessionize.Shard
	sink       *sink.Sink
	reachedEnd bool

	wm       atomic.Int64 // touchpoint watermark sent so far
	lag      atomic.Int64 // messages behind the partition's high watermark
	lastSeen atomic.Int64 // unix nanos of the last fetched message
}

func (f *fetcher) run(ctx context.Context) {
	if f.end >= 0 && f.start >= f.end {
		f.reachedEnd = true
		f.markAll(ctx, true)
		return
	}
	cfg := &f.r.cfg
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         cfg.Brokers,
		Topic:           f.topic,
		Partition:       f.partition,
		MinBytes:        1,
		MaxBytes:        32 << 20,
		MaxWait:         100 * time.Millisecond,
		QueueCapacity:   1024,
		ReadLagInterval: -1,
		Dialer:          f.r.kafka.dialer(),
	})
	defer rd.Close()
	if f.start >= 0 {
		rd.SetOffset(f.start)
	} else {
		rd.SetOffset(kafka.FirstOffset)
	}
	isTP := f.topic == cfg.TouchpointsTopic
	if isTP {
		idleDone := make(chan struct{})
		defer close(idleDone)
		go f.idleMarks(ctx, rd, idleDone)
	}
	sinceMark := 0
	lastMark := time.Now()
	first := true
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			cfg.Logger.Warn("fetch failed; retrying", "topic", f.topic, "partition", f.partition, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if first && f.start >= 0 && m.Offset > f.start {
			// The log no longer holds what the group had not committed:
			// retention deleted it before it was consumed. Say so loudly;
			// those events cannot be attributed.
			f.r.st.Skipped.Add(m.Offset - f.start)
			cfg.Logger.Error("uncommitted messages were deleted by retention before they were consumed",
				"topic", f.topic, "partition", f.partition, "committed", f.start, "first_available", m.Offset, "lost", m.Offset-f.start)
		}
		first = false
		f.tracker.Add(m.Offset)
		f.lag.Store(max(0, m.HighWaterMark-m.Offset-1))
		if !f.route(ctx, &m, isTP) {
			return
		}
		last := f.end >= 0 && m.Offset+1 >= f.end
		if isTP {
			now := time.Now()
			f.lastSeen.Store(now.UnixNano())
			sinceMark++
			if sinceMark >= 256 || now.Sub(lastMark) > 50*time.Millisecond || last {
				f.markAll(ctx, m.Offset+1 >= m.HighWaterMark)
				sinceMark, lastMark = 0, now
			}
		}
		if last {
			f.reachedEnd = true
			return
		}
	}
}

// route decodes m and sends it to its shard, or dead-letters it.
func (f *fetcher) route(ctx context.Context, m *kafka.Message, isTP bool) bool {
	cfg := &f.r.cfg
	ack := flow.Ack{To: f.tracker, Offset: m.Offset}
	it := flow.Item{Partition: int32(m.Partition), Ack: ack, Offset: m.Offset, Key: m.Key, Value: m.Value}
	var err error
	var key string
	if n := sink.MessageBytes(m); n > cfg.MaxMessageBytes {
		f.r.st.Invalid.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonOversize, nil, fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d (key %d, value %d, headers %d)",
			n, cfg.MaxMessageBytes, len(m.Key), len(m.Value), sink.HeadersBytes(m.Headers)))
	}
	if f.topic == cfg.SpendTopic {
		sp, err := f.r.dec.AdSpend(m.Value)
		if err != nil {
			f.r.st.Invalid.Add(1)
			return f.dead(ctx, m, ack, flow.ReasonInvalid, err, err.Error())
		}
		f.r.st.Spend.Add(1)
		return f.send(ctx, &flow.Unit{Spend: []schemas.AdSpend{sp}, Acks: []flow.Ack{ack}})
	}
	var timeMs int64
	if isTP {
		it.Kind = flow.KindTouchpoint
		if it.TP, err = f.r.dec.Touchpoint(m.Value); err == nil {
			key, timeMs = it.TP.Key(), it.TP.TimeMs
		}
	} else {
		it.Kind = flow.KindConversion
		if it.CV, err = f.r.dec.Conversion(m.Value); err == nil {
			key, timeMs = it.CV.Key(), it.CV.TimeMs
		}
	}
	if err != nil {
		f.r.st.Invalid.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonInvalid, err, err.Error())
	}
	if ref, src := futureRef(m.Time, time.Now()); timeMs > ref.UnixMilli()+cfg.MaxFutureSkew.Milliseconds() {
		// Never applied, stored or used for a watermark: one client with a
		// wrong clock must not move its partition's event time.
		f.r.st.Future.Add(1)
		return f.dead(ctx, m, ack, flow.ReasonFuture, nil, fmt.Sprintf("timestamp: %s is more than max_future_skew %s after the message was consumed (%s %s)",
			time.UnixMilli(timeMs).UTC().Format(time.RFC3339Nano), cfg.MaxFutureSkew, src, ref.UTC().Format(time.RFC3339Nano)))
	}
	if want := keyPartition(key, f.r.parts); want != f.partition {
		f.r.misPartitioned(f.topic, f.partition, m.Offset, m.Key, key, want)
	}
	if isTP && timeMs > f.wm.Load() {
		defer f.wm.Store(timeMs) // after the send: marks never run ahead of items
	}
	s := f.shards[murmur3.StringSum32(key)%uint32(len(f.shards))]
	select {
	case s.In <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// minBrokerTime is the earliest broker timestamp taken as set: the event
// contract starts in 2000, and clients that set none send 0 or -1.
var minBrokerTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// futureRef is the time an event is judged against for being in the
// future: when its message entered the log, which the broker timestamp
// says (LogAppendTime, or the producer's CreateTime), so that the same
// message gets the same verdict whether it is consumed live or days later
// from a backlog; the wall clock when the message has no timestamp, or one
// later than the wall clock: a producer can set CreateTime, and a future
// one must not widen what is accepted. src names the reference taken.
func futureRef(broker, now time.Time) (ref time.Time, src string) {
	if broker.Before(minBrokerTime) || broker.After(now) {
		return now, "wall clock"
	}
	return broker, "broker timestamp"
}

// dead dead-letters m, counting and (the first few of each reason) logging
// the rejection; err, when set, is the decoding error whose field refines
// the reason.
func (f *fetcher) dead(ctx context.Context, m *kafka.Message, ack flow.Ack, reason string, err error, msg string) bool {
	msg = schemas.SafeText(msg)
	f.r.st.Rejected.Record(flow.RejectionReason(reason, err), m.Topic, m.Partition, m.Offset, msg)
	return f.send(ctx, &flow.Unit{Dead: []flow.DeadLetter{{Msg: *m, Reason: reason, Err: msg}}, Acks: []flow.Ack{ack}})
}

// send hands a unit that needs no shard straight to the sink.
func (f *fetcher) send(ctx context.Context, u *flow.Unit) bool {
	select {
	case f.sink.In <- sink.Msg{U: u, Shard: -1}:
		return true
	case <-ctx.Done():
		return false
	}
}

// markAll tells every shard how far the touchpoints of this partition got.
func (f *fetcher) markAll(ctx context.Context, caughtUp bool) {
	mark := flow.Item{Kind: flow.KindMark, Partition: int32(f.partition), WM: f.wm.Load(), CaughtUp: caughtUp}
	for _, s := range f.shards {
		select {
		case s.In <- mark:
		case <-ctx.Done():
			return
		}
	}
}

// idleMarks keeps the watermark of an idle partition useful: when nothing
// was fetched for a while, it tells the shards whether the partition is at
// the end of its log, so that conversions need not wait for touchpoints
// that are not coming.
func (f *fetcher) idleMarks(ctx context.Context, rd *kafka.Reader, done chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
			if time.Since(time.Unix(0, f.lastSeen.Load())) < 100*time.Millisecond {
				continue
			}
			f.markAll(ctx, rd.Lag() <= 0)
		}
	}
}
