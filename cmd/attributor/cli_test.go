package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A flag error is the error and one line pointing at --help: the help
// would scroll it away.
func TestFlagErrorIsOneLineAndAHint(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--lookback", "banana"}, `attributor run: invalid value "banana" for flag --lookback: "banana" is not a duration: write a number and a unit (s, m, h, d), e.g. 90s, 15m, 12h, 30d or 1d12h`},
		{[]string{"run", "--nope"}, "attributor run: flag provided but not defined: --nope"},
		{[]string{"migrate", "extra"}, `attributor migrate: unexpected argument "extra"`},
		{[]string{"report", "top_paths", "--limit"}, "attributor report: flag needs an argument: --limit"},
		{[]string{"generate", "--duration", "a day"}, `attributor generate: invalid value "a day" for flag --duration: "a day" is not a duration`},
		{[]string{"replay", "--format", "xml", "--touchpoints", "a", "--conversions", "b"}, `attributor replay: format: must be "ndjson" or "csv", got "xml"`},
	} {
		code, stdout, stderr := runSubcommand(c.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		hint := "Run 'attributor " + c.args[0] + " --help' for usage."
		if code != 2 || stdout != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], c.want) || lines[1] != hint {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant exit 2, the line %q and %q", c.args, code, stdout, stderr, c.want, hint)
		}
	}
	code, _, stderr := runSubcommand("frobnicate")
	if code != 2 || stderr != "attributor: unknown command \"frobnicate\"\nRun 'attributor --help' for the commands.\n" {
		t.Errorf("unknown command: exit %d:\n%s", code, stderr)
	}
}

func TestParseDurationTakesDays(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"30d", 30 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2d30m", 48*time.Hour + 30*time.Minute},
		{"720h", 720 * time.Hour},
		{"90s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"-1d", -24 * time.Hour},
		{"0", 0},
	} {
		if got, err := parseDuration(c.in); err != nil || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"banana", "", "30", "d", "1dd", "30 days", "1e400d"} {
		if _, err := parseDuration(in); err == nil || !strings.Contains(err.Error(), "30d or 1d12h") {
			t.Errorf("parseDuration(%q): %v, want an error with an example", in, err)
		}
	}
	for d, want := range map[time.Duration]string{
		30 * 24 * time.Hour: "30d", 36 * time.Hour: "1d12h", 5 * time.Minute: "5m", 250 * time.Millisecond: "250ms",
		90 * time.Minute: "1h30m", 7*24*time.Hour + time.Second: "7d1s", 0: "0s", -time.Hour: "-1h",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		} else if back, err := parseDuration(got); err != nil || back != d {
			t.Errorf("parseDuration(formatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}

// Days work in every duration flag and its environment variable, also in
// flags registered straight on the FlagSet (generate --duration, replay
// --allowed-lateness).
func TestDaysEverywhere(t *testing.T) {
	args := []string{"replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--models", "linear"}
	code, want, stderr := runSubcommand(append(args, "--lookback", "720h", "--view-window", "24h", "--allowed-lateness", "0s")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, got, stderr := runSubcommand(append(args, "--lookback", "30d", "--view-window=1d", "--allowed-lateness", "0d")...)
	if code != 0 || got != want {
		t.Errorf("--lookback 30d --view-window=1d: exit %d: %s\nthe rows differ from those of 720h and 24h: %v", code, stderr, got != want)
	}
	t.Setenv("ATTRIBUTOR_LOOKBACK", "29d24h")
	t.Setenv("ATTRIBUTOR_VIEW_WINDOW", "0.5d12h")
	if code, got, stderr := runSubcommand(args...); code != 0 || got != want {
		t.Errorf("ATTRIBUTOR_LOOKBACK=29d24h: exit %d: %s", code, stderr)
	}
	t.Setenv("ATTRIBUTOR_LOOKBACK", "a month")
	if code, _, stderr := runSubcommand(args...); code != 2 || !strings.Contains(stderr, `ATTRIBUTOR_LOOKBACK: "a month" is not a duration`) {
		t.Errorf("ATTRIBUTOR_LOOKBACK=a month: exit %d:\n%s", code, stderr)
	}
	t.Setenv("ATTRIBUTOR_LOOKBACK", "")
	dir := t.TempDir()
	if code, _, stderr := runSubcommand("generate", "--users", "20", "--duration", "1d12h", "--out", dir); code != 0 {
		t.Errorf("generate --duration 1d12h: exit %d: %s", code, stderr)
	}
}

// --help goes to stdout (`| less` works), flags grouped, spelled --flag,
// with their defaults and environment variables.
func TestHelpOnStdoutGrouped(t *testing.T) {
	code, stdout, stderr := runSubcommand("run", "--help")
	if code != 0 || stderr != "" {
		t.Fatalf("run --help: exit %d, stderr:\n%s", code, stderr)
	}
	last := -1
	for _, g := range []string{"\nInput (Kafka):\n", "\nKafka security:\n", "\nClickHouse:\n", "\nModels and windows:\n", "\nOperations and telemetry:\n"} {
		i := strings.Index(stdout, g)
		if i < 0 || i < last {
			t.Errorf("run --help: group %q missing or out of order:\n%s", g, stdout)
		}
		last = i
	}
	section := func(from, to string) string {
		s := stdout[strings.Index(stdout, from):]
		if to != "" {
			s = s[:strings.Index(s, to)]
		}
		return s
	}
	for _, c := range []struct{ section, flag string }{
		{section("Input (Kafka):", "Kafka security:"), "  --brokers BROKERS\n"},
		{section("Kafka security:", "ClickHouse:"), "  --kafka-tls-ca FILE\n"},
		{section("ClickHouse:", "Models and windows:"), "  --clickhouse-user USER\n"},
		{section("Models and windows:", "Operations"), "  --lookback DURATION\n"},
		{section("Models and windows:", "Operations"), "  --session-gap DURATION\n"},
		{section("Operations and telemetry:", ""), "  --memory-limit SIZE\n"},
		{section("Operations and telemetry:", ""), "  --cpuprofile FILE\n"},
	} {
		if !strings.Contains(c.section, c.flag) {
			t.Errorf("flag %q not in its group:\n%s", c.flag, c.section)
		}
	}
	for _, want := range []string{"default 30d; env ATTRIBUTOR_LOOKBACK", "env ATTRIBUTOR_CLICKHOUSE_USER", "Durations take s, m, h and d (days)"} {
		if !strings.Contains(strings.Join(strings.Fields(stdout), " "), want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
	if strings.Contains(stdout, "\n  -l") || strings.Contains(stdout, "Other:") {
		t.Errorf("run --help: a single-dash flag or an ungrouped one:\n%s", stdout)
	}
	if code, again, _ := runSubcommand("help", "run"); code != 0 || again != stdout {
		t.Errorf("help run: exit %d, differs from run --help", code)
	}
	for _, cmd := range []string{"migrate", "replay", "generate", "report", "spend", "completion"} {
		if code, stdout, stderr := runSubcommand(cmd, "--help"); code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: attributor "+cmd) {
			t.Errorf("%s --help: exit %d, stderr %q, stdout:\n%s", cmd, code, stderr, stdout)
		}
	}
	if code, stdout, _ := runSubcommand("--help"); code != 0 || !strings.Contains(stdout, "  completion ") || strings.Contains(stdout, "__complete") {
		t.Errorf("attributor --help: exit %d:\n%s", code, stdout)
	}
}

// A flag registered before any Group, through envFlags or on its FlagSet,
// is listed under Other, after the named groups.
func TestFlagGroups(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	e := &envFlags{fs: fs}
	e.String("early", "", "", "registered before any group")
	e.Group("Second").Int("b", "X_B", 1, "b")
	fs.Bool("c", false, "on the FlagSet, after Group(Second)")
	e.Group("First").Duration("a", "", 36*time.Hour, "a")
	var b strings.Builder
	e.help(&b, "usage: x")()
	want := "usage: x\n\nSecond:\n  --b INT\n        b [default 1; env X_B]\n  --c\n        on the FlagSet, after Group(Second)\n\nFirst:\n  --a DURATION\n        a [default 1d12h]\n\nOther:\n  --early STRING\n        registered before any group\n"
	if b.String() != want {
		t.Errorf("help:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, stdout, _ := runSubcommand("completion", sh)
		if code != 0 || !strings.Contains(stdout, "__complete") || !strings.Contains(stdout, sh) {
			t.Errorf("completion %s: exit %d:\n%s", sh, code, stdout)
		}
	}
	if code, _, stderr := runSubcommand("completion", "tcsh"); code != 2 || !strings.Contains(stderr, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d: %s", code, stderr)
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"rep"}, "replay report"},
		{[]string{"report", ""}, "assisted_conversions channel_performance cohort_value conversion model_comparison model_fits path_length time_to_conversion top_paths"},
		{[]string{"report", "--format", "csv", "model_"}, "model_comparison model_fits"},
		{[]string{"report", "top_paths", "--f"}, "--format --from"},
		{[]string{"report", "channel_performance", "--model", "l"}, "last_click last_non_direct linear"},
		{[]string{"report", "channel_performance", "--model", "a"}, "all"},
		{[]string{"report", "channel_performance", "--by", ""}, "campaign channel"},
		{[]string{"report", "top_paths", ""}, ""},
		{[]string{"run", "--lookb"}, "--lookback"},
		{[]string{"run", "--log-level", ""}, "debug error info warn"},
		{[]string{"run", "--channel-rules", "ru"}, ""}, // a file: the shell completes it
		{[]string{"spend", ""}, "import"},
		{[]string{"completion", ""}, "bash fish zsh"},
		{[]string{"help", "mi"}, "migrate"},
	} {
		code, stdout, _ := runSubcommand(append([]string{"__complete"}, c.words...)...)
		if got := strings.Join(strings.Fields(stdout), " "); code != 0 || got != c.want {
			t.Errorf("complete %q = %q, want %q", c.words, got, c.want)
		}
	}
}

// The completion scripts work in the shells installed here: each loads,
// asks the binary and offers its candidates (or files).
func TestCompletionScriptsInShells(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "attributor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := dir + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, c := range []struct {
		shell, script string
		want          string
	}{
		{"bash", `source <(attributor completion bash)
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _attributor; echo "${COMPREPLY[*]}"; }
t attributor rep; t attributor report --format ''; t attributor report channel_performance --mo; t attributor run --channel-rules ` + dir + `/attr`,
			"replay report\ncsv json table\n--model\n" + bin + "\n"},
		{"zsh", `compdef() { :; }; source <(attributor completion zsh)
compadd() { [[ $1 == -a ]] && echo ${(P)2}; }; _files() { echo FILES; }
t() { words=("$@"); CURRENT=$#; _attributor; }
t attributor rep; t attributor report --format ''; t attributor run --channel-rules x`,
			"replay report\ncsv json table\nFILES\n"},
		{"fish", `attributor completion fish | source
complete -C "attributor rep" | string join ' '; complete -C "attributor report --format " | string join ' '; complete -C "attributor run --channel-rules ` + dir + `/attr"`,
			"replay report\ncsv json table\n" + bin + "\n"},
	} {
		if _, err := exec.LookPath(c.shell); err != nil {
			t.Logf("%s is not installed: its script is not tried", c.shell)
			continue
		}
		cmd := exec.Command(c.shell, "-c", c.script)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != c.want {
			t.Errorf("%s: %v\n%q\nwant\n%q", c.shell, err, out, c.want)
		}
	}
}
