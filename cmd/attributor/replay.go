package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

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
	e := &envFlags{fs: fs}
	var (
		tpPath    = e.Group("Input").fs.String("touchpoints", "", "touchpoints NDJSON `file` (required)")
		cvPath    = fs.String("conversions", "", "conversions NDJSON `file` (required)")
		attrCfg   = addAttributionFlags(e)
		rulesPath = e.String("channel-rules", "ATTRIBUTOR_CHANNEL_RULES", "", "channel grouping rules JSON `file` (default: the built-in grouping)")
		lateness  = fs.Duration("allowed-lateness", 0, "how far the touchpoint watermark must pass a conversion before it is attributed")
		order     = e.Int("markov-order", "ATTRIBUTOR_MARKOV_ORDER", 1, "order `k` (1-4) of the markov model, fitted on the input files first")
		format    = e.Group("Output").fs.String("format", string(replay.NDJSON), "output `format`: ndjson or csv")
	)
	fs.Usage = e.help(stdout, "usage: attributor replay --touchpoints FILE --conversions FILE [flags]\n\nWrites one credited row per line to stdout and a summary to stderr.")
	if code, ok := parseFlags(fs, e, args, stderr, "replay"); !ok {
		return code
	}
	if *tpPath == "" || *cvPath == "" {
		return exitUsage(fs, stderr, "replay", "--touchpoints and --conversions are required")
	}
	f, err := replay.ParseFormat(*format)
	if err != nil {
		return exitUsage(fs, stderr, "replay", err.Error())
	}
	acfg, err := attrCfg()
	if err != nil {
		fmt.Fprintf(stderr, "attributor replay: invalid configuration:\n%v\n", err)
		return 2
	}
	cfg := replay.Config{Attribution: acfg, AllowedLateness: *lateness}
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
	if *order < attribution.MinMarkovOrder || *order > attribution.MaxMarkovOrder {
		return exitUsage(fs, stderr, "replay", fmt.Sprintf("--markov-order: must be in [%d, %d], got %d", attribution.MinMarkovOrder, attribution.MaxMarkovOrder, *order))
	}
	// The data-driven models are fitted on the files first: a first pass.
	if cfg.Fits, err = fitReplayInputs(cfg, *tpPath, *cvPath, *order, stderr); err != nil {
		fmt.Fprintf(stderr, "attributor replay: %v\n", err)
		return 1
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

// fitReplayInputs fits the data-driven models asked for on the input files
// (replay.FitInputs) and prints each fit's id and summary on stderr.
func fitReplayInputs(cfg replay.Config, tpPath, cvPath string, order int, stderr io.Writer) (attribution.Fits, error) {
	if !slices.ContainsFunc(cfg.WithDefaults().Attribution.Models, func(m string) bool { return slices.Contains(attribution.DataDrivenModelNames, m) }) {
		return attribution.Fits{}, nil
	}
	tp, err := os.Open(tpPath)
	if err != nil {
		return attribution.Fits{}, fmt.Errorf("touchpoints: %w", err)
	}
	defer tp.Close()
	cv, err := os.Open(cvPath)
	if err != nil {
		return attribution.Fits{}, fmt.Errorf("conversions: %w", err)
	}
	defer cv.Close()
	fits, err := replay.FitInputs(context.Background(), cfg, replay.Input{Name: tpPath, R: tp}, replay.Input{Name: cvPath, R: cv}, order)
	if err != nil {
		return fits, err
	}
	if fits.Markov != nil {
		printFitSummary(stderr, "attributor replay: ", &fits.Markov.FitSummary)
	}
	if fits.Shapley != nil {
		printFitSummary(stderr, "attributor replay: ", &fits.Shapley.FitSummary)
	}
	return fits, nil
}

// exitUsage reports a usage problem in one line, then points at --help
// (the help itself would scroll the error away), and returns the exit code
// of bad usage.
func exitUsage(fs *flag.FlagSet, stderr io.Writer, cmd, msg string) int {
	fmt.Fprintf(stderr, "attributor %s: %s\n%s\n", cmd, msg, usageHint(cmd))
	return 2
}
