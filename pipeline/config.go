// Package pipeline is the streaming attributor: a Kafka consumer group that
// sessionizes touchpoints, attributes conversions with the attribution
// engine once the touchpoint watermark has passed them, and writes raw
// events and credited rows to ClickHouse. Offsets are committed only after
// ClickHouse has acknowledged every row derived from them.
package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/pipeline/sessionize"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/pipeline/source"
	"github.com/attributor/attributor/schemas"
)

// Defaults of the fields of Config that cmd/attributor exposes as flags:
// the stage that owns a parameter defines its default, Config and the flags
// take it from there.
const (
	DefaultSessionGap           = sessionize.DefaultSessionGap
	DefaultAllowedLateness      = sessionize.DefaultAllowedLateness
	DefaultHorizon              = sessionize.DefaultHorizon
	DefaultMaxUsers             = sessionize.DefaultMaxUsers
	DefaultFlushRows            = sink.DefaultFlushRows
	DefaultFlushInterval        = sink.DefaultFlushInterval
	DefaultBacklogFlushRows     = sink.DefaultBacklogFlushRows
	DefaultBacklogFlushInterval = sink.DefaultBacklogFlushInterval
	DefaultRawFlushInterval     = sink.DefaultRawFlushInterval
	DefaultMarkovOrder          = 1
	DefaultFitPoll              = 30 * time.Second
	DefaultRollupEvery          = 10 * time.Minute
)

// Config configures a Runner. Zero fields take the defaults noted beside
// them (see WithDefaults).
type Config struct {
	Brokers          []string // Kafka bootstrap brokers. Default 127.0.0.1:9092.
	TouchpointsTopic string   // Default "touchpoints".
	ConversionsTopic string   // Default "conversions".
	DLQTopic         string   // Dead letters. Default "attributor.dlq".
	// SpendTopic carries ad-spend events. Default "ad_spend". It is
	// optional: when the topic does not exist, spend comes only from
	// touchpoint costs and `attributor spend import`.
	SpendTopic string
	// IdentitiesTopic carries identity events (an anonymous_id belongs to
	// a user_id). Default "identities". It is optional: when the topic
	// does not exist, nothing is stitched (said once in the log).
	IdentitiesTopic string
	Group           string // Consumer group. Default "attributor".
	// RepartitionPartitions is the partition count R of the group's
	// repartition topic ("<group>.repartition", created at start when
	// missing): the number of homes. An event is processed by the owner
	// of its key's home, murmur2(key) mod R; consumed elsewhere, it is
	// forwarded there through that topic. Default 0: the existing
	// topic's count, else the touchpoints topic's. An existing topic of
	// another count is an error at start.
	RepartitionPartitions int
	Kafka                 KafkaSecurity

	ClickHouse ClickHouseConfig

	Attribution attribution.Config
	// MarkovOrder is the order of the markov fit applied (when Attribution
	// lists markov): 1–4. Default 1.
	MarkovOrder int
	// FitPoll is how often model_fits is read for a newer fit of the
	// data-driven models asked for. Default 30s.
	FitPoll time.Duration
	// FitEvery, when > 0, refits the data-driven models in-process every
	// FitEvery on the trailing FitWindow and stores the fits. Default 0: off.
	FitEvery time.Duration
	// FitWindow is the training window of FitEvery, ending just after the
	// latest event stored. Default: Attribution.Lookback.
	FitWindow time.Duration
	// RollupEvery is how often the run rolls up the days of credits and
	// touchpoints that went RollupQuiet without a write, into the tables
	// the aggregate views read (pipeline/rollup; `attributor rollup` does
	// the same once). Default 10m; negative: off. On a cluster too
	// (rollup.Options.Cluster).
	RollupEvery time.Duration
	// RollupQuiet: see rollup.Options.Quiet. Default 10m; negative: 0.
	RollupQuiet time.Duration
	Channels    *schemas.ChannelRules // Channel grouping. Default schemas.DefaultChannelRules().

	// SessionGap starts a new session after this much inactivity. Default 30m.
	SessionGap time.Duration
	// AllowedLateness is how long, in event time, a conversion waits for the
	// touchpoint watermark before it is attributed. Default 5s.
	AllowedLateness time.Duration
	// Horizon bounds re-attribution: a touchpoint older than the watermark by
	// more than this is stored but goes to the dead-letter topic as too_late.
	// Default 7 days.
	Horizon time.Duration
	// MaxFutureSkew is how far ahead of the time it was consumed an event
	// may be stamped. Later touchpoints and conversions are dead-lettered
	// as future and never move a watermark. The time consumed is the
	// message's broker timestamp, or the wall clock when that is absent or
	// later (see futureRef). Default 1h, or Horizon when that is shorter;
	// it must not exceed Horizon.
	MaxFutureSkew time.Duration

	Shards        int           // Worker goroutines holding user state. Default GOMAXPROCS.
	QueueSize     int           // Items buffered per shard (in batches of up to flow.BatchItems, at least one). Default 4096.
	MaxUsers      int           // Users held in memory, all shards together. Default 2,000,000.
	FlushRows     int           // Rows that trigger a ClickHouse insert. Default 50,000.
	FlushInterval time.Duration // Longest a row waits for its insert. Default 250ms.
	// BacklogFlushRows and BacklogFlushInterval replace FlushRows and
	// FlushInterval while the consumer is behind by at least FlushRows
	// messages: fewer, larger inserts (see sink.Config). Defaults 200,000
	// and 1s; values below FlushRows and FlushInterval count as those.
	BacklogFlushRows     int
	BacklogFlushInterval time.Duration
	// RawFlushInterval is how long the raw rows (touchpoints, ad_spend,
	// identities, links) and the rollup marks of batches whose credited
	// rows and conversions are written may wait, to go out together: fewer inserts
	// and parts while the credited rows keep FlushInterval (see
	// sink.Config). Offsets wait for both. Default 1s; a value below
	// FlushInterval counts as FlushInterval.
	RawFlushInterval time.Duration
	CommitInterval   time.Duration // Offset commit period. Default 1s.
	MaxMessageBytes  int           // Larger messages (key + value + headers) are dead-lettered. Default 1 MiB.
	// LogRejections is how many rejected events of each reason are logged
	// (at warn, with topic, partition, offset and the reason); the rest are
	// only counted. Default 5; negative: none.
	LogRejections int

	// UntilCaughtUp makes Run consume what the topics held when it started,
	// attribute every pending conversion, commit and return.
	UntilCaughtUp bool

	Logger *slog.Logger // Default: discard.
	// Progress, when set, is called about every ProgressInterval with a
	// snapshot of the counters. Default interval 5s.
	Progress         func(Snapshot)
	ProgressInterval time.Duration
}

// ClickHouseConfig is where credited rows go.
type ClickHouseConfig struct {
	Addr     string // native protocol host:port. Default 127.0.0.1:9000.
	Database string // Default "attribution".
	// Cluster names the ClickHouse cluster (remote_servers) whose
	// Distributed tables the attributor migrates, reads and writes; empty
	// for a single server. Default "".
	Cluster  string
	Username string // Default "default".
	Password string // never logged or put in an error
	TLS      TLSOptions
	// Compression of inserts and results: "auto", "lz4" or "none".
	// Default "auto": none where Addr is a loopback address (localhost,
	// 127.0.0.0/8, ::1), where compressing only spends CPU on both ends,
	// and lz4 elsewhere, where it pays off over a network.
	Compression string
	// DialTimeout bounds connecting. Default 5s.
	DialTimeout time.Duration
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{source.DefaultBroker}
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.TouchpointsTopic, source.DefaultTouchpointsTopic)
	def(&c.ConversionsTopic, source.DefaultConversionsTopic)
	def(&c.DLQTopic, source.DefaultDLQTopic)
	def(&c.SpendTopic, source.DefaultSpendTopic)
	def(&c.IdentitiesTopic, source.DefaultIdentitiesTopic)
	def(&c.Group, source.DefaultGroup)
	def(&c.ClickHouse.Addr, "127.0.0.1:9000")
	def(&c.ClickHouse.Database, "attribution")
	def(&c.ClickHouse.Username, "default")
	def(&c.ClickHouse.Compression, "auto")
	if c.ClickHouse.DialTimeout == 0 {
		c.ClickHouse.DialTimeout = 5 * time.Second
	}
	c.Attribution = c.Attribution.WithDefaults()
	if c.MarkovOrder == 0 {
		c.MarkovOrder = DefaultMarkovOrder
	}
	if c.FitPoll == 0 {
		c.FitPoll = DefaultFitPoll
	}
	if c.FitWindow == 0 {
		c.FitWindow = c.Attribution.Lookback
	}
	if c.Channels == nil {
		c.Channels = schemas.DefaultChannelRules()
	}
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dur(&c.SessionGap, sessionize.DefaultSessionGap)
	dur(&c.AllowedLateness, sessionize.DefaultAllowedLateness)
	dur(&c.Horizon, sessionize.DefaultHorizon)
	dur(&c.MaxFutureSkew, min(time.Hour, c.Horizon))
	dur(&c.FlushInterval, sink.DefaultFlushInterval)
	dur(&c.BacklogFlushInterval, sink.DefaultBacklogFlushInterval)
	dur(&c.RawFlushInterval, sink.DefaultRawFlushInterval)
	dur(&c.RollupEvery, DefaultRollupEvery)
	dur(&c.RollupQuiet, rollup.DefaultQuiet)
	dur(&c.CommitInterval, time.Second)
	dur(&c.ProgressInterval, 5*time.Second)
	num := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	num(&c.Shards, runtime.GOMAXPROCS(0))
	num(&c.QueueSize, sessionize.DefaultQueueSize)
	num(&c.MaxUsers, sessionize.DefaultMaxUsers)
	num(&c.FlushRows, sink.DefaultFlushRows)
	num(&c.BacklogFlushRows, sink.DefaultBacklogFlushRows)
	num(&c.MaxMessageBytes, source.DefaultMaxMessageBytes)
	num(&c.LogRejections, 5)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every invalid field by name.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		add("brokers: at least one broker is required")
	}
	topics := map[string]string{}
	for _, t := range []struct{ field, name string }{
		{"touchpoints_topic", c.TouchpointsTopic}, {"conversions_topic", c.ConversionsTopic}, {"dlq_topic", c.DLQTopic}, {"spend_topic", c.SpendTopic},
		{"identities_topic", c.IdentitiesTopic},
	} {
		if t.name == "" {
			add("%s: required", t.field)
		} else if other, dup := topics[t.name]; dup {
			add("%s: same topic as %s (%q)", t.field, other, t.name)
		}
		topics[t.name] = t.field
	}
	if c.Group == "" {
		add("group: required")
	}
	if c.ClickHouse.Addr == "" {
		add("clickhouse: address required")
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.ClickHouse.TLS.Config("clickhouse"); err != nil {
		errs = append(errs, err)
	}
	switch c.ClickHouse.Compression {
	case "auto", "lz4", "none":
	default:
		add("clickhouse_compression: must be auto, lz4 or none, got %q", c.ClickHouse.Compression)
	}
	if err := schemas.ValidIdentifier(c.ClickHouse.Database); err != nil {
		add("database: %v", err)
	}
	if err := c.Attribution.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"session_gap", c.SessionGap}, {"allowed_lateness", c.AllowedLateness}, {"horizon", c.Horizon}, {"max_future_skew", c.MaxFutureSkew},
		{"flush_interval", c.FlushInterval}, {"backlog_flush_interval", c.BacklogFlushInterval}, {"raw_flush_interval", c.RawFlushInterval}, {"commit_interval", c.CommitInterval}} {
		if d.v <= 0 {
			add("%s: must be > 0, got %s", d.field, d.v)
		}
	}
	if c.MarkovOrder < attribution.MinMarkovOrder || c.MarkovOrder > attribution.MaxMarkovOrder {
		add("markov_order: must be in [%d, %d], got %d", attribution.MinMarkovOrder, attribution.MaxMarkovOrder, c.MarkovOrder)
	}
	if c.FitPoll <= 0 {
		add("fit_poll: must be > 0, got %s", c.FitPoll)
	}
	if c.FitEvery < 0 {
		add("fit_every: must be >= 0, got %s", c.FitEvery)
	}
	if c.FitWindow <= 0 {
		add("fit_window: must be > 0, got %s", c.FitWindow)
	}
	if c.Horizon < c.AllowedLateness {
		add("horizon: must be >= allowed_lateness (%s < %s)", c.Horizon, c.AllowedLateness)
	}
	if c.MaxFutureSkew > c.Horizon {
		// An accepted event moves its partition's watermark by at most the
		// skew: within the horizon, it can never make on-time events too late.
		add("max_future_skew: must be <= horizon (%s > %s)", c.MaxFutureSkew, c.Horizon)
	}
	for _, n := range []struct {
		field string
		v     int
	}{{"shards", c.Shards}, {"queue_size", c.QueueSize}, {"max_users", c.MaxUsers}, {"flush_rows", c.FlushRows}, {"backlog_flush_rows", c.BacklogFlushRows}, {"max_message_bytes", c.MaxMessageBytes}} {
		if n.v <= 0 {
			add("%s: must be > 0, got %d", n.field, n.v)
		}
	}
	if c.RepartitionPartitions < 0 {
		add("repartition_partitions: must be >= 0, got %d", c.RepartitionPartitions)
	}
	if c.Shards > 1024 {
		add("shards: must be <= 1024, got %d", c.Shards)
	}
	return errors.Join(errs...)
}

// shardConfig is the part of c a shard needs.
func (c Config) shardConfig() sessionize.Config {
	return sessionize.Config{
		Attribution: c.Attribution, SessionGap: c.SessionGap, AllowedLateness: c.AllowedLateness,
		Horizon: c.Horizon, QueueSize: c.QueueSize, MaxUsers: max(1, c.MaxUsers/c.Shards),
		TouchpointsTopic: c.TouchpointsTopic, IdentitiesTopic: c.IdentitiesTopic, Logger: c.Logger,
	}
}

// sinkConfig is the part of c the sink needs.
func (c Config) sinkConfig() sink.Config {
	return sink.Config{
		Database: c.ClickHouse.Database, Shards: c.Shards,
		FlushRows: c.FlushRows, FlushInterval: c.FlushInterval,
		BacklogFlushRows: c.BacklogFlushRows, BacklogFlushInterval: c.BacklogFlushInterval, RawFlushInterval: c.RawFlushInterval, Logger: c.Logger,
	}
}

// sourceConfig is the part of c the fetchers need.
func (c Config) sourceConfig() source.Config {
	return source.Config{Brokers: c.Brokers, TouchpointsTopic: c.TouchpointsTopic, ConversionsTopic: c.ConversionsTopic,
		SpendTopic: c.SpendTopic, IdentitiesTopic: c.IdentitiesTopic, DLQTopic: c.DLQTopic, RepartitionTopic: source.RepartitionTopic(c.Group), RepartitionPartitions: c.RepartitionPartitions,
		MaxMessageBytes: c.MaxMessageBytes, MaxFutureSkew: c.MaxFutureSkew, Logger: c.Logger}
}
