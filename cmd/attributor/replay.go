package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
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
		idPath    = fs.String("identities", "", "identity events NDJSON `file`: stitch each device's anonymous events to its user (reads --touchpoints and --conversions twice)")
		attrCfg   = addAttributionFlags(e)
		rulesPath = e.String("channel-rules", "ATTRIBUTOR_CHANNEL_RULES", "", "channel grouping rules JSON `file` (default: the built-in grouping)")
		lateness  = fs.Duration("allowed-lateness", 0, "how far the touchpoint watermark must pass a conversion before it is attributed")
		skew      = e.Duration("max-future-skew", "ATTRIBUTOR_MAX_FUTURE_SKEW", replay.DefaultMaxFutureSkew, "events stamped more than this after --as-of are left out (reported like invalid lines), as the pipeline dead-letters them as future")
		asOf      = fs.String("as-of", "", "RFC 3339 `time` that --max-future-skew counts from (default: now)")
		order     = e.Int("markov-order", "ATTRIBUTOR_MARKOV_ORDER", 1, "order `k` (1-4) of the markov model, fitted on the input files first")
		format    = e.Group("Output").fs.String("format", string(replay.NDJSON), "output `format`: ndjson or csv")
	)
	fs.Usage = e.help(stdout, "usage: attributor replay --touchpoints FILE --conversions FILE [--identities FILE] [flags]\n\nWrites one credited row per line to stdout and a summary to stderr.")
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
	cfg := replay.Config{Attribution: acfg, AllowedLateness: *lateness, MaxFutureSkew: *skew}
	if *skew <= 0 {
		return exitUsage(fs, stderr, "replay", fmt.Sprintf("--max-future-skew: must be > 0, got %s", *skew))
	}
	cfg.AsOf = time.Now() // one time for the link pass and the replay
	if *asOf != "" {
		if cfg.AsOf, err = time.Parse(time.RFC3339Nano, *asOf); err != nil {
			return exitUsage(fs, stderr, "replay", fmt.Sprintf("--as-of: not RFC 3339: %q", *asOf))
		}
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
	if *order < attribution.MinMarkovOrder || *order > attribution.MaxMarkovOrder {
		return exitUsage(fs, stderr, "replay", fmt.Sprintf("--markov-order: must be in [%d, %d], got %d", attribution.MinMarkovOrder, attribution.MaxMarkovOrder, *order))
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

	var links *replay.LinkStats
	if *idPath != "" {
		tab, ls, err := replayLinks(*idPath, *tpPath, *cvPath, cfg, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "attributor replay: %v\n", err)
			return 1
		}
		cfg.Links, links = tab, &ls
	}
	// The data-driven models are fitted on the files first (on stitched
	// keys, after the link pass): a first pass.
	if cfg.Fits, err = fitReplayInputs(cfg, *tpPath, *cvPath, *order, stderr); err != nil {
		fmt.Fprintf(stderr, "attributor replay: %v\n", err)
		return 1
	}

	out := replay.NewRowWriter(stdout, f)
	stats, err := replay.Run(context.Background(), cfg,
		replay.Input{Name: *tpPath, R: tp}, replay.Input{Name: *cvPath, R: cv}, out, stderr)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	stats.Links = links
	stats.WriteSummary(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "attributor replay: %v\n", err)
		return 1
	}
	return 0
}

// replayLinks runs the link pass over the identities and over the
// touchpoints and conversions, which it opens for this first reading: they
// must be files that can be read twice.
func replayLinks(idPath, tpPath, cvPath string, cfg replay.Config, stderr io.Writer) (*stitch.Table, replay.LinkStats, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	open := func(what, path string, twice bool) (replay.Input, error) {
		f, err := os.Open(path)
		if err != nil {
			return replay.Input{}, fmt.Errorf("%s: %w", what, err)
		}
		closers = append(closers, f)
		if st, err := f.Stat(); twice && (err != nil || !st.Mode().IsRegular()) {
			return replay.Input{}, fmt.Errorf("%s: %s is not a regular file: --identities reads the touchpoints and conversions twice (links first)", what, path)
		}
		return replay.Input{Name: path, R: f}, nil
	}
	ids, err := open("identities", idPath, false)
	if err != nil {
		return nil, replay.LinkStats{}, err
	}
	tps, err := open("touchpoints", tpPath, true)
	if err != nil {
		return nil, replay.LinkStats{}, err
	}
	cvs, err := open("conversions", cvPath, true)
	if err != nil {
		return nil, replay.LinkStats{}, err
	}
	return replay.LinkPass(context.Background(), cfg, ids, tps, cvs, stderr)
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
