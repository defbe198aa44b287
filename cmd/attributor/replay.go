package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

func init() {
	register("replay", "attribute conversions from NDJSON files, as the pipeline would", runReplay)
}

func runReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		tpPath     = fs.String("touchpoints", "", "touchpoints NDJSON `file` (required)")
		cvPath     = fs.String("conversions", "", "conversions NDJSON `file` (required)")
		models     = fs.String("models", strings.Join(attribution.ModelNames, ","), "comma-separated `models`, or \"all\"")
		lookback   = fs.Duration("lookback", attribution.DefaultLookback, "click lookback window")
		viewWindow = fs.Duration("view-window", attribution.DefaultViewWindow, "impression (view-through) window, capped by --lookback")
		halfLife   = fs.Duration("half-life", attribution.DefaultHalfLife, "half-life of time_decay")
		firstShare = fs.Float64("first-share", attribution.DefaultFirstShare, "position_based share of the first touchpoint")
		lastShare  = fs.Float64("last-share", attribution.DefaultLastShare, "position_based share of the last touchpoint")
		reset      = fs.Bool("reset-on-conversion", false, "credit a conversion only to touchpoints after the user's previous conversion")
		rulesPath  = fs.String("channel-rules", "", "channel grouping rules JSON `file` (default: the built-in grouping)")
		lateness   = fs.Duration("allowed-lateness", 0, "how far the touchpoint watermark must pass a conversion before it is attributed")
		format     = fs.String("format", string(replay.NDJSON), "output `format`: ndjson or csv")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: attributor replay --touchpoints FILE --conversions FILE [flags]")
		fmt.Fprintln(stderr, "\nWrites one credited row per line to stdout and a summary to stderr.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		return exitUsage(fs, stderr, "replay", fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *tpPath == "" || *cvPath == "" {
		return exitUsage(fs, stderr, "replay", "--touchpoints and --conversions are required")
	}
	f, err := replay.ParseFormat(*format)
	if err != nil {
		return exitUsage(fs, stderr, "replay", err.Error())
	}
	cfg := replay.Config{
		Attribution: attribution.Config{
			Models:            attribution.ParseModels(*models),
			Lookback:          *lookback,
			ViewWindow:        *viewWindow,
			HalfLife:          *halfLife,
			FirstShare:        *firstShare,
			LastShare:         *lastShare,
			ResetOnConversion: *reset,
		},
		AllowedLateness: *lateness,
	}
	if *rulesPath != "" {
		b, err := os.ReadFile(*rulesPath)
		if err != nil {
			fmt.Fprintf(stderr, "attributor replay: %v\n", err)
			return 1
		}
		if cfg.ChannelRules, err = schemas.ParseChannelRules(b); err != nil {
			fmt.Fprintf(stderr, "attributor replay: %s: %v\n", *rulesPath, err)
			return 1
		}
	}
	if err := cfg.WithDefaults().Validate(); err != nil {
		fmt.Fprintf(stderr, "attributor replay: invalid configuration:\n%v\n", err)
		return 2
	}
	tp, err := os.Open(*tpPath)
	if err != nil {
		fmt.Fprintf(stderr, "attributor replay: touchpoints: %v\n", err)
		return 1
	}
	defer tp.Close()
	cv, err := os.Open(*cvPath)
	if err != nil {
		fmt.Fprintf(stderr, "attributor replay: conversions: %v\n", err)
		return 1
	}
	defer cv.Close()

	out := replay.NewRowWriter(stdout, f)
	stats, err := replay.Run(context.Background(), cfg,
		replay.Input{Name: *tpPath, R: tp}, replay.Input{Name: *cvPath, R: cv}, out, stderr)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	stats.WriteSummary(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "attributor replay: %v\n", err)
		return 1
	}
	return 0
}

// exitUsage reports a flag problem the way the flag package does and
// returns the exit code of bad usage.
func exitUsage(fs *flag.FlagSet, stderr io.Writer, cmd, msg string) int {
	fmt.Fprintf(stderr, "attributor %s: %s\n", cmd, msg)
	fs.Usage()
	return 2
}
