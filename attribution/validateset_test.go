package attribution

import (
	"strings"
	"testing"
)

// ValidateSet reports, besides Validate's errors, the zeros that
// WithDefaults would silently replace: from the command line they are
// mistakes. A default config passes both.
func TestValidateSetReportsZeros(t *testing.T) {
	ok := Config{}.WithDefaults()
	if err := ok.ValidateSet(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"zero lookback", func(c *Config) { c.Lookback = 0 }, "lookback: must be > 0"},
		{"zero half-life", func(c *Config) { c.HalfLife = 0 }, "half_life: must be > 0"},
		{"negative view window", func(c *Config) { c.ViewWindow = -1 }, "view_window: must be > 0"},
		{"both shares zero", func(c *Config) { c.FirstShare, c.LastShare = 0, 0 }, "first_share, last_share: must not both be 0"},
		{"zero max path", func(c *Config) { c.MaxPathTouchpoints = 0 }, "max_path_touchpoints: must be in [1, 10000], got 0"},
		{"too long max path", func(c *Config) { c.MaxPathTouchpoints = MaxPathTouchpointsLimit + 1 }, "max_path_touchpoints: must be in [1, 10000], got 10001"},
	} {
		cfg := ok
		c.set(&cfg)
		if err := cfg.ValidateSet(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ValidateSet = %v, want %q", c.name, err, c.want)
		}
		// WithDefaults then Validate (the library path) accepts the zeros.
		if c.name != "negative view window" && c.name != "too long max path" {
			if err := cfg.WithDefaults().Validate(); err != nil {
				t.Errorf("%s: WithDefaults().Validate() = %v, want nil", c.name, err)
			}
		}
	}
}
