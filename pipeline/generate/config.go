package generate

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config.
const (
	DefaultUsers    = 10_000
	DefaultDuration = 24 * time.Hour
)

// DefaultStart is Black Friday 2026, midnight UTC.
var DefaultStart = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// Config parameterises the traffic. The zero value of a field means its
// default; Seed 0 is a seed like any other.
type Config struct {
	// Seed makes the traffic: the same Config gives byte-identical events.
	Seed int64
	// Users is the number of users. Default 10000 (ignored when Events > 0).
	Users int
	// Events, when > 0, replaces Users: users are added until the traffic
	// holds at least this many events (so a few more, at most one user's).
	Events int
	// Start of the traffic; every event time is in [Start, Start+Duration].
	// Default DefaultStart.
	Start time.Time
	// Duration of the traffic. Default 24h: a day of traffic.
	Duration time.Duration
	// LoggedOutShare is the share of users with a user_id whose journey
	// starts logged out, on a device known only by its anonymous_id: their
	// events up to the login carry the anonymous_id alone, the login is an
	// identity event (some delivered hours or days late), some devices are
	// shared by two users, and their conversions come from the backend
	// (user_id only) or from the device. Default 0: every event of such a
	// user carries its user_id and no identity event is made (the traffic
	// of before identity stitching, byte for byte).
	LoggedOutShare float64
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Users == 0 && c.Events == 0 {
		c.Users = DefaultUsers
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	return c
}

// maxEvents keeps a mistyped --events from exhausting memory (about 100
// bytes per event are held before encoding).
const maxEvents = 100_000_000

// Validate reports every invalid field, by name.
func (c Config) Validate() error {
	var errs []error
	if c.Users < 0 {
		errs = append(errs, fmt.Errorf("users: must be >= 0, got %d", c.Users))
	}
	if c.Events < 0 || c.Events > maxEvents {
		errs = append(errs, fmt.Errorf("events: must be in [0, %d], got %d", maxEvents, c.Events))
	}
	if c.Users > maxEvents/3 {
		errs = append(errs, fmt.Errorf("users: must be at most %d, got %d", maxEvents/3, c.Users))
	}
	if !(c.LoggedOutShare >= 0 && c.LoggedOutShare <= 1) {
		errs = append(errs, fmt.Errorf("logged_out_share: must be in [0, 1], got %v", c.LoggedOutShare))
	}
	if c.Duration < time.Second {
		errs = append(errs, fmt.Errorf("duration: must be >= 1s, got %s", c.Duration))
	}
	if y := c.Start.Year(); y < 2000 || c.Start.Add(c.Duration).Year() >= 2100 {
		errs = append(errs, fmt.Errorf("start: the traffic must lie in [2000, 2100), got %s + %s", c.Start.Format(time.RFC3339), c.Duration))
	}
	return errors.Join(errs...)
}
