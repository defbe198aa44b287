package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

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
	// The live stream's events are short-lived: all of an event's strings
	// in one allocation (what the shards keep longer, they copy).
	dec := schemas.NewDecoder(cfg.Channels)
	dec.OneBlock = true
	src, err := source.New(cfg.sourceConfig(), cfg.Kafka, dec, r.st)
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
	fitDone.Go(func() { r.rollupLoop(fitCtx) })
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
