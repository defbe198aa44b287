package attribution_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
)

func TestConfigDefaults(t *testing.T) {
	c := attribution.Config{}.WithDefaults()
	want := attribution.Config{
		Models:     attribution.ModelNames,
		Lookback:   30 * 24 * time.Hour,
		ViewWindow: 24 * time.Hour,
		HalfLife:   7 * 24 * time.Hour,
		FirstShare: 0.4,
		LastShare:  0.4,
	}
	if !slices.Equal(c.Models, want.Models) || c.Lookback != want.Lookback || c.ViewWindow != want.ViewWindow ||
		c.HalfLife != want.HalfLife || c.FirstShare != want.FirstShare || c.LastShare != want.LastShare {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
	c.Models[0] = "changed"
	if attribution.ModelNames[0] != "last_click" {
		t.Fatal("WithDefaults shares its Models with ModelNames")
	}
}

// TestConfigValidate checks that each invalid field is reported by name.
func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  attribution.Config
		want string // substring of the error; empty: valid
	}{
		{"defaults", attribution.Config{}, ""},
		{"one model", attribution.Config{Models: []string{"linear"}}, ""},
		{"shares summing to 1", attribution.Config{FirstShare: 0.5, LastShare: 0.5}, ""},
		{"unknown model", attribution.Config{Models: []string{"linear", "u_shaped"}}, `models: unknown model "u_shaped"`},
		{"model twice", attribution.Config{Models: []string{"linear", "linear"}}, `models: "linear" listed twice`},
		{"negative lookback", attribution.Config{Lookback: -time.Hour}, "lookback: must be > 0"},
		{"negative view window", attribution.Config{ViewWindow: -time.Hour}, "view_window: must be > 0"},
		{"half-life below a millisecond", attribution.Config{HalfLife: time.Microsecond}, "half_life: must be at least 1ms"},
		{"lookback over 10 years", attribution.Config{Lookback: 11 * 365 * 24 * time.Hour}, "lookback: must be at most 10 years"},
		{"negative first share", attribution.Config{FirstShare: -0.1, LastShare: 0.4}, "first_share: must be in [0, 1]"},
		{"last share over 1", attribution.Config{FirstShare: 0.1, LastShare: 1.5}, "last_share: must be in [0, 1]"},
		{"NaN first share", attribution.Config{FirstShare: math.NaN(), LastShare: 0.4}, "first_share: must be in [0, 1]"},
		{"shares over 1", attribution.Config{FirstShare: 0.6, LastShare: 0.6}, "first_share + last_share: must be <= 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attribution.NewEngine(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestPositionBasedRoundingSlack checks that shares Validate accepts with a
// rounding error above 1 never give the middle a negative credit.
func TestPositionBasedRoundingSlack(t *testing.T) {
	m := attribution.PositionBased{First: 0.5, Last: 0.5 + 1e-13}
	path := []attribution.Touchpoint{click("a", 3*day, ""), click("b", 2*day, ""), click("c", day, "")}
	w := make([]float64, 3)
	m.Weights(attribution.Conversion{TimeMs: convMs}, path, w)
	if w[1] != 0 {
		t.Fatalf("middle weight = %g, want 0", w[1])
	}
}

func TestParseModels(t *testing.T) {
	for in, want := range map[string][]string{
		"":                        attribution.ModelNames,
		"all":                     attribution.ModelNames,
		" linear , time_decay,, ": {"linear", "time_decay"},
		"last_non_direct":         {"last_non_direct"},
	} {
		if got := attribution.ParseModels(in); !slices.Equal(got, want) {
			t.Errorf("ParseModels(%q) = %q, want %q", in, got, want)
		}
	}
}
