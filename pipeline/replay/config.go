package replay

import (
	"errors"
	"fmt"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
)

// Defaults of Config.
const (
	DefaultPruneEvery     = 100_000
	DefaultMaxErrorsShown = 100
	DefaultMaxFutureSkew  = time.Hour
)

// Config parameterises a replay. The zero value of a field means its default.
type Config struct {
	// Attribution configures the models and their windows.
	Attribution attribution.Config
	// Fits are the fits the data-driven models of Attribution apply (see
	// FitInputs); a data-driven model without one credits nothing.
	Fits attribution.Fits
	// AllowedLateness is how far the touchpoint watermark must pass a
	// conversion before it is attributed, so that touchpoints up to this much
	// out of order still reach its path. Default 0: an exact merge-join of
	// time-sorted files.
	AllowedLateness time.Duration
	// ChannelRules derive the channel of touchpoints that name none.
	// Default: schemas.DefaultChannelRules().
	ChannelRules *schemas.ChannelRules
	// PruneEvery is the number of events between two prunes of the state
	// older than the windows. Default 100000.
	PruneEvery int
	// MaxErrorsShown caps the invalid lines printed per input; the rest are
	// only counted. Default 100.
	MaxErrorsShown int
	// MaxFutureSkew: events stamped more than this after AsOf are left out
	// (counted and reported like invalid lines), as the pipeline
	// dead-letters them as future. Default 1h.
	MaxFutureSkew time.Duration
	// AsOf is the time events are judged against for being in the future.
	// Files carry no broker timestamp, so the default is the wall clock
	// when Run starts: no real event is stamped after the moment it is
	// replayed. Set it to the time the events were produced to judge them
	// as the pipeline did.
	AsOf time.Time
	// Links, when set, stitches identities: every event is keyed by
	// Links.Key(user_id, anonymous_id) instead of its own key, in paths,
	// deduplication and the rows' user_key. LinkPass builds it. Default
	// nil: no stitching.
	Links *stitch.Table
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Attribution = c.Attribution.WithDefaults()
	if c.ChannelRules == nil {
		c.ChannelRules = schemas.DefaultChannelRules()
	}
	if c.PruneEvery == 0 {
		c.PruneEvery = DefaultPruneEvery
	}
	if c.MaxErrorsShown == 0 {
		c.MaxErrorsShown = DefaultMaxErrorsShown
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = DefaultMaxFutureSkew
	}
	if c.AsOf.IsZero() {
		c.AsOf = time.Now()
	}
	return c
}

// Validate reports every invalid field, by name.
func (c Config) Validate() error {
	var errs []error
	if err := c.Attribution.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("allowed_lateness: must be >= 0, got %s", c.AllowedLateness))
	}
	if c.PruneEvery < 0 {
		errs = append(errs, fmt.Errorf("prune_every: must be >= 0, got %d", c.PruneEvery))
	}
	if c.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max_future_skew: must be > 0, got %s", c.MaxFutureSkew))
	}
	if c.MaxErrorsShown < 0 {
		errs = append(errs, fmt.Errorf("max_errors_shown: must be >= 0, got %d", c.MaxErrorsShown))
	}
	return errors.Join(errs...)
}
