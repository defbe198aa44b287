package attribution

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultLookback   = 30 * 24 * time.Hour
	DefaultViewWindow = 24 * time.Hour
	DefaultHalfLife   = 7 * 24 * time.Hour
	DefaultFirstShare = 0.4
	DefaultLastShare  = 0.4
	maxDurationMs     = int64(10 * 365 * 24 * time.Hour / time.Millisecond)
)

// Path cap of Config.
const (
	// DefaultMaxPathTouchpoints is how many touchpoints a path keeps: the
	// latest 50 within the windows, as Google Analytics 4 and Google Ads
	// consider up to 50 interactions per conversion. A bot or a shared
	// device then writes at most models x 50 rows per conversion.
	DefaultMaxPathTouchpoints = 50
	// MaxPathTouchpointsLimit bounds Config.MaxPathTouchpoints.
	MaxPathTouchpointsLimit = 10_000
)

// ModelNames lists the built-in models in their canonical order.
var ModelNames = []string{"last_click", "first_click", "linear", "time_decay", "position_based", "last_non_direct"}

// Config parameterises an Engine. The zero value of a field means its default.
type Config struct {
	// Models to apply, by name, in output order: of ModelNames and
	// DataDrivenModelNames. Default: all of ModelNames.
	Models []string
	// Lookback is how far before a conversion a click may be. Default 30 days.
	Lookback time.Duration
	// ViewWindow is how far before a conversion an impression may be.
	// Default 1 day. It is capped by Lookback.
	ViewWindow time.Duration
	// HalfLife of the time_decay model. Default 7 days.
	HalfLife time.Duration
	// FirstShare and LastShare of the position_based model. Default 0.4 each.
	FirstShare, LastShare float64
	// ResetOnConversion starts a new path after each of the user's
	// conversions: a conversion is credited only to touchpoints after the
	// user's previous conversion. Default false.
	ResetOnConversion bool
	// MaxPathTouchpoints caps a path: of the touchpoints within a
	// conversion's windows only the latest this many are credited (the
	// earlier ones are left out, and Result.Capped says so). Default
	// DefaultMaxPathTouchpoints (50); at most MaxPathTouchpointsLimit.
	MaxPathTouchpoints int
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Models) == 0 {
		c.Models = append([]string(nil), ModelNames...)
	}
	if c.Lookback == 0 {
		c.Lookback = DefaultLookback
	}
	if c.ViewWindow == 0 {
		c.ViewWindow = DefaultViewWindow
	}
	if c.HalfLife == 0 {
		c.HalfLife = DefaultHalfLife
	}
	if c.MaxPathTouchpoints == 0 {
		c.MaxPathTouchpoints = DefaultMaxPathTouchpoints
	}
	if c.FirstShare == 0 && c.LastShare == 0 {
		c.FirstShare, c.LastShare = DefaultFirstShare, DefaultLastShare
	}
	return c
}

// ValidateSet validates c as given, before WithDefaults, for a caller that
// sets every field (the command line, whose flags default to the Default*
// values): there a zero that WithDefaults would replace is a mistake, not a
// request for the default, so it is reported with the rest of Validate's
// errors. Field names are as in Validate (lookback, view_window, ...).
func (c Config) ValidateSet() error {
	var errs []error
	if c.FirstShare == 0 && c.LastShare == 0 {
		errs = append(errs, fmt.Errorf("first_share, last_share: must not both be 0"))
	}
	if c.MaxPathTouchpoints == 0 {
		errs = append(errs, fmt.Errorf("max_path_touchpoints: must be in [1, %d], got 0", MaxPathTouchpointsLimit))
	}
	return errors.Join(append([]error{c.Validate()}, errs...)...)
}

// Validate reports the first invalid field, by name.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, m := range c.Models {
		if _, err := newModel(m, c); err != nil {
			errs = append(errs, err)
		}
		if seen[m] {
			errs = append(errs, fmt.Errorf("models: %q listed twice", m))
		}
		seen[m] = true
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"lookback", c.Lookback}, {"view_window", c.ViewWindow}, {"half_life", c.HalfLife}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be > 0, got %s", d.name, d.v))
		} else if d.v < time.Millisecond {
			// The engine works in milliseconds: a shorter half-life would
			// truncate to 0 and divide by it.
			errs = append(errs, fmt.Errorf("%s: must be at least 1ms, got %s", d.name, d.v))
		} else if d.v.Milliseconds() > maxDurationMs {
			errs = append(errs, fmt.Errorf("%s: must be at most 10 years, got %s", d.name, d.v))
		}
	}
	if c.MaxPathTouchpoints < 0 || c.MaxPathTouchpoints > MaxPathTouchpointsLimit {
		errs = append(errs, fmt.Errorf("max_path_touchpoints: must be in [1, %d], got %d", MaxPathTouchpointsLimit, c.MaxPathTouchpoints))
	}
	// Written as !(in range) so that NaN is rejected too.
	if !(c.FirstShare >= 0 && c.FirstShare <= 1) {
		errs = append(errs, fmt.Errorf("first_share: must be in [0, 1], got %v", c.FirstShare))
	}
	if !(c.LastShare >= 0 && c.LastShare <= 1) {
		errs = append(errs, fmt.Errorf("last_share: must be in [0, 1], got %v", c.LastShare))
	}
	if c.FirstShare+c.LastShare > 1+1e-12 {
		errs = append(errs, fmt.Errorf("first_share + last_share: must be <= 1, got %v", c.FirstShare+c.LastShare))
	}
	return errors.Join(errs...)
}

func newModel(name string, c Config) (Model, error) {
	switch name {
	case "last_click":
		return LastClick{}, nil
	case "first_click":
		return FirstClick{}, nil
	case "linear":
		return Linear{}, nil
	case "time_decay":
		return TimeDecay{HalfLifeMs: c.HalfLife.Milliseconds()}, nil
	case "position_based":
		return PositionBased{First: c.FirstShare, Last: c.LastShare}, nil
	case "last_non_direct":
		return LastNonDirect{}, nil
	case "markov":
		return &Markov{}, nil
	case "shapley":
		return &Shapley{}, nil
	}
	return nil, fmt.Errorf("models: unknown model %q (known: %s)", name, strings.Join(append(slices.Clone(ModelNames), DataDrivenModelNames...), ", "))
}

// ParseModels splits a comma-separated list of model names, trimming spaces.
// "all" or an empty string selects every model.
func ParseModels(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return append([]string(nil), ModelNames...)
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
