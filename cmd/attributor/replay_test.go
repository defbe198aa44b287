package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runSubcommand runs the command line args through dispatch, as main does.
func runSubcommand(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var (
	exampleTouchpoints = filepath.Join("..", "..", "testdata", "example", "touchpoints.ndjson")
	exampleConversions = filepath.Join("..", "..", "testdata", "example", "conversions.ndjson")
)

// The README example, end to end: byte for byte the committed output
// (pipeline/replay's TestGoldenExample rewrites it with -update).
func TestReplayCommandExample(t *testing.T) {
	for _, format := range []string{"ndjson", "csv"} {
		code, stdout, stderr := runSubcommand("replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--format", format)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "example", "credited."+format))
		if err != nil {
			t.Fatal(err)
		}
		if stdout != string(want) {
			t.Errorf("%s output:\n%s\nwant:\n%s", format, stdout, want)
		}
		for _, s := range []string{"touchpoints read:        3", "conversions attributed:  1", "rows written:            18", "events/s:"} {
			if !strings.Contains(stderr, s) {
				t.Errorf("summary lacks %q:\n%s", s, stderr)
			}
		}
	}
}

func TestReplayCommandFlags(t *testing.T) {
	code, stdout, stderr := runSubcommand("replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions,
		"--models", "linear, last_click", "--lookback", "24h", "--reset-on-conversion")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The lookback leaves only t3 (08:00 on the 27th) in the path.
	want := []string{`"model":"linear","touchpoint_id":"t3"`, `"model":"last_click","touchpoint_id":"t3"`}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], want[0]) || !strings.Contains(lines[1], want[1]) {
		t.Errorf("output:\n%s\nwant rows with %q", stdout, want)
	}
}

func TestReplayCommandChannelRules(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(rules, []byte(`{"rules":[{"channel":"search","source":"google"}],"fallback":"rest"}`), 0o644)
	code, stdout, stderr := runSubcommand("replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions,
		"--models", "first_click", "--channel-rules", rules)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{`"channel":"search"`, `"channel":"rest"`, `"channel":"direct"`} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %s (t1 derived by the rules, t2 by their fallback, t3 names its channel):\n%s", s, stdout)
		}
	}
}

func TestReplayCommandErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.ndjson")
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", nil, 2, "--touchpoints and --conversions are required"},
		{"unknown flag", []string{"--bogus"}, 2, "flag provided but not defined: --bogus"},
		{"bad duration", []string{"--lookback", "soon"}, 2, `invalid value "soon" for flag --lookback: "soon" is not a duration`},
		{"bad format", []string{"--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--format", "xml"}, 2, `format: must be "ndjson" or "csv", got "xml"`},
		{"invalid config", []string{"--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--lookback", "-1h", "--models", "linear,nope"}, 2, "lookback: must be > 0"},
		{"unknown model", []string{"--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--models", "nope"}, 2, `models: unknown model "nope"`},
		{"missing touchpoints", []string{"--touchpoints", missing, "--conversions", exampleConversions}, 1, "attributor replay: touchpoints: open " + missing + ": no such file or directory"},
		{"missing conversions", []string{"--touchpoints", exampleTouchpoints, "--conversions", missing}, 1, "attributor replay: conversions: open " + missing},
		{"missing rules", []string{"--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--channel-rules", missing}, 1, missing},
		{"stray argument", []string{"--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "extra"}, 2, `unexpected argument "extra"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runSubcommand(append([]string{"replay"}, c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, c.code, c.want)
			}
			if c.code == 2 && !strings.Contains(stderr, "Run 'attributor replay --help' for usage.") && !strings.Contains(stderr, "invalid configuration") {
				t.Errorf("bad usage without the usage text:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
	if code, _, _ := runSubcommand("replay", "--help"); code != 0 {
		t.Errorf("--help exits %d, want 0", code)
	}
}

// Invalid lines are reported with their file and line, and the run goes on.
func TestReplayCommandInvalidLines(t *testing.T) {
	dir := t.TempDir()
	tp := filepath.Join(dir, "touchpoints.ndjson")
	b, _ := os.ReadFile(exampleTouchpoints)
	os.WriteFile(tp, append([]byte("{oops\n"), b...), 0o644)
	code, stdout, stderr := runSubcommand("replay", "--touchpoints", tp, "--conversions", exampleConversions, "--models", "linear")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, tp+":1: json: invalid") || !strings.Contains(stderr, "  invalid:               1") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}
