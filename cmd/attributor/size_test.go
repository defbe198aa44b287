package main

import (
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "536870912", want: 512 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "64KiB", want: 64 << 10},
		{in: "1TiB", want: 1 << 40},
		{in: "100B", want: 100},
		{in: "500MB", want: 500_000_000},
		{in: "3GB", want: 3_000_000_000},
		{in: "2KB", want: 2000},
		{in: "0", want: 0},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "", err: "is not a size"},
		{in: "lots", err: "is not a size"},
		{in: "-1GiB", err: "is not a size"},
		{in: "1.5GiB", err: "is not a size"},
		{in: "512 MiB", err: "is not a size"},
		{in: "512mib", err: "is not a size"},
		{in: "GiB", err: "is not a size"},
		{in: "8388608TiB", err: "too large"},
		{in: "99999999999999999999", err: "too large"},
	} {
		got, err := parseSize(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseSize(%q) = %d, %v; want an error saying %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestFormatSizeRoundTrip(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1000: "1000B", 1 << 10: "1KiB", 1536 << 20: "1536MiB", 2 << 30: "2GiB", 3<<40 + 1: "3298534883329B"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseSize(formatSize(n)); err != nil || back != n {
			t.Errorf("parseSize(formatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestRunMemoryLimitErrors(t *testing.T) {
	for _, c := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"zero", "", []string{"--memory-limit", "0"}, "memory-limit: must be > 0, got 0B"},
		{"zero from env", "0MiB", nil, "memory-limit: must be > 0, got 0B"},
		{"not a size", "", []string{"--memory-limit", "12QB"}, `invalid value "12QB" for flag --memory-limit`},
		{"env not a size", "lots", nil, `ATTRIBUTOR_MEMORY_LIMIT: "lots" is not a size`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("ATTRIBUTOR_MEMORY_LIMIT", c.env)
			code, stdout, stderr := runSubcommand(append([]string{"run"}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, stdout, stderr, c.want)
			}
		})
	}
}

// The flag sets the runtime's limit, over one GOMEMLIMIT set; without the
// flag the runtime's limit stays and is reported. With a limit in force and
// GOGC not set, the GC's target becomes limitedGCPercent; GOGC set, or no
// limit, leaves the runtime's target alone.
func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if v, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", v)
	} else {
		defer os.Unsetenv("GOGC")
	}
	os.Unsetenv("GOGC")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	debug.SetMemoryLimit(math.MaxInt64)
	if n, src, gc := applyMemoryLimit(&sizeFlag{}, log); n != 0 || src != "none" || debug.SetMemoryLimit(-1) != math.MaxInt64 || gc != 100 || debug.SetGCPercent(100) != 100 {
		t.Errorf("no flag, no GOMEMLIMIT: %d from %q, runtime limit %d, gc percent %d", n, src, debug.SetMemoryLimit(-1), gc)
	}
	debug.SetMemoryLimit(3 << 30) // as GOMEMLIMIT=3GiB does at start
	if n, src, gc := applyMemoryLimit(&sizeFlag{}, log); n != 3<<30 || src != "GOMEMLIMIT" || debug.SetMemoryLimit(-1) != 3<<30 || gc != limitedGCPercent || debug.SetGCPercent(100) != limitedGCPercent {
		t.Errorf("GOMEMLIMIT only: %d from %q, runtime limit %d, gc percent %d", n, src, debug.SetMemoryLimit(-1), gc)
	}
	if n, src, gc := applyMemoryLimit(&sizeFlag{n: 512 << 20, set: true}, log); n != 512<<20 || src != "memory-limit" || debug.SetMemoryLimit(-1) != 512<<20 || gc != limitedGCPercent || debug.SetGCPercent(100) != limitedGCPercent {
		t.Errorf("flag over GOMEMLIMIT: %d from %q, runtime limit %d, gc percent %d", n, src, debug.SetMemoryLimit(-1), gc)
	}
	os.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // as GOGC=150 does at start
	if _, _, gc := applyMemoryLimit(&sizeFlag{n: 512 << 20, set: true}, log); gc != 150 || debug.SetGCPercent(100) != 150 {
		t.Errorf("flag with GOGC=150: gc percent %d, want GOGC's 150 kept", gc)
	}
}
