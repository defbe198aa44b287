package sessionize

import (
	"context"
	"log/slog"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
)

// Defaults of the sessionizer's parameters. pipeline.Config defaults its
// fields of the same names to these, so each is written once.
const (
	DefaultSessionGap      = 30 * time.Minute
	DefaultAllowedLateness = 5 * time.Second
	DefaultHorizon         = 7 * 24 * time.Hour
	DefaultQueueSize       = 4096
	DefaultMaxUsers        = 2_000_000
)

// Config configures one shard. The runner fills it from a validated
// pipeline.Config; the fields mean what they mean there.
type Config struct {
	Attribution      attribution.Config
	SessionGap       time.Duration // Default DefaultSessionGap.
	AllowedLateness  time.Duration // Default DefaultAllowedLateness.
	Horizon          time.Duration // Default DefaultHorizon.
	QueueSize        int           // Items buffered by the shard (in batches of up to flow.BatchItems). Default DefaultQueueSize.
	MaxUsers         int           // Users this shard holds before it evicts. Default DefaultMaxUsers.
	TouchpointsTopic string        // Named in the dead letters of touchpoints.
	IdentitiesTopic  string        // Named in the dead letters of identity events.
	// Stitch: identity stitching is on (the identities topic exists);
	// Start then carries the links, the forwarder and the homes.
	Stitch bool
	Logger *slog.Logger // Default: discard.
	// Fits are the data-driven models' fits, swapped in by the runner;
	// nil when none is asked for (a data-driven model without a fit gives
	// no rows and is counted in Stats.ModelSkipped).
	Fits *Fits
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Attribution = c.Attribution.WithDefaults()
	if c.SessionGap == 0 {
		c.SessionGap = DefaultSessionGap
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = DefaultAllowedLateness
	}
	if c.Horizon == 0 {
		c.Horizon = DefaultHorizon
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxUsers == 0 {
		c.MaxUsers = DefaultMaxUsers
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// History reads what the store holds of some users: their touchpoints at
// or after tpFromMs and their conversions attributed at or after
// convFromMs. The sink side implements it over ClickHouse; the shard calls
// it from its own goroutine and retries an error with backoff, so an
// implementation needs no retry of its own.
type History interface {
	Load(ctx context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error)
}

// HistoryFunc adapts a function to History.
type HistoryFunc func(ctx context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error)

// Load calls f.
func (f HistoryFunc) Load(ctx context.Context, keys []string, tpFromMs, convFromMs int64) (flow.History, error) {
	return f(ctx, keys, tpFromMs, convFromMs)
}

// Output takes the shard's units: the sink. The shard owns a unit until
// Send returns true; then the output owns it.
type Output interface {
	// Send hands over u, the shard's seq-th unit. It blocks while the
	// output is full and returns false when ctx is done first.
	Send(ctx context.Context, shard int, seq uint64, u *flow.Unit) bool
	// Acked returns the highest seq of the shard whose rows are all
	// durable: the shard may then forget the users of those units.
	Acked(shard int) uint64
}
