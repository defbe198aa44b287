package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/fit"
	"github.com/attributor/attributor/schemas"
)

func init() {
	register("fit", "fit a data-driven model (markov, shapley) on the paths in ClickHouse and store it", runFit)
}

func runFit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	var (
		model    = e.Group("Fit").fs.String("model", "", "data-driven `model` to fit: markov or shapley (required)")
		order    = e.Int("markov-order", "ATTRIBUTOR_MARKOV_ORDER", 1, "order `k` (1-4) of the markov chain")
		from     = fs.String("from", "", "start of the training window, inclusive: a `day` (YYYY-MM-DD, UTC) or an RFC 3339 time (default: --to minus --lookback)")
		to       = fs.String("to", "", "end of the training window, exclusive: a `day` (YYYY-MM-DD, UTC: the window ends at its midnight) or an RFC 3339 time (default: just after the latest event stored, not after now)")
		format   = fs.String("format", "table", "output `format` of the fit: table, csv or json")
		lookback = e.Group("Windows (as for run)").Duration("lookback", "ATTRIBUTOR_LOOKBACK", attribution.DefaultLookback, "click lookback window")
		view     = e.Duration("view-window", "ATTRIBUTOR_VIEW_WINDOW", attribution.DefaultViewWindow, "impression (view-through) window, capped by --lookback")
		reset    = e.Bool("reset-on-conversion", "ATTRIBUTOR_RESET_ON_CONVERSION", false, "a path starts after the key's previous conversion")
		svc      = addServiceFlags(e)
	)
	fs.Usage = e.help(stdout, "usage: attributor fit --model markov|shapley [--markov-order K] [--from T] [--to T] [--format table|csv|json]\n\nBuilds the fitting paths of the window from the raw tables in ClickHouse, fits\nthe model, stores the fit in model_fits (where `attributor run` picks it up) and\nprints it: per channel its removal effect (markov) or credited conversions\n(shapley) and its share.")
	if code, ok := parseFlags(fs, e, args, stderr, "fit"); !ok {
		return code
	}
	switch *model {
	case "markov", "shapley":
	case "":
		return exitUsage(fs, stderr, "fit", "--model is required: markov or shapley")
	default:
		return exitUsage(fs, stderr, "fit", fmt.Sprintf("--model: must be markov or shapley, got %q", *model))
	}
	if *order < attribution.MinMarkovOrder || *order > attribution.MaxMarkovOrder {
		return exitUsage(fs, stderr, "fit", fmt.Sprintf("--markov-order: must be in [%d, %d], got %d", attribution.MinMarkovOrder, attribution.MaxMarkovOrder, *order))
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return exitUsage(fs, stderr, "fit", fmt.Sprintf("--format: must be table, csv or json, got %q", *format))
	}
	acfg := attribution.Config{Lookback: *lookback, ViewWindow: *view, ResetOnConversion: *reset}
	if *lookback <= 0 || *view <= 0 {
		return exitUsage(fs, stderr, "fit", "--lookback and --view-window: must be > 0")
	}
	if err := acfg.WithDefaults().Validate(); err != nil {
		fmt.Fprintf(stderr, "attributor fit: invalid configuration:\n%v\n", err)
		return 2
	}
	var fromMs, toMs int64
	var hasFrom, hasTo bool
	var err error
	if *from != "" {
		if fromMs, err = parseFitTime(*from); err != nil {
			return exitUsage(fs, stderr, "fit", "--from: "+err.Error())
		}
		hasFrom = true
	}
	if *to != "" {
		if toMs, err = parseFitTime(*to); err != nil {
			return exitUsage(fs, stderr, "fit", "--to: "+err.Error())
		}
		hasTo = true
	}
	if hasFrom && hasTo && toMs <= fromMs {
		return exitUsage(fs, stderr, "fit", fmt.Sprintf("--to (%s) must be after --from (%s)", *to, *from))
	}
	chCfg, err := svc.clickHouseConfig()
	if err == nil {
		err = schemas.ValidIdentifier(chCfg.Database)
	}
	if err != nil {
		fmt.Fprintf(stderr, "attributor fit: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	conn, err := pipeline.OpenClickHouse(ctx, chCfg)
	if err != nil {
		fmt.Fprintf(stderr, "attributor fit: %v\n", err)
		return 1
	}
	defer conn.Close()
	if err := pipeline.MigrateConfig(ctx, conn, chCfg); err != nil {
		fmt.Fprintf(stderr, "attributor fit: %v\n", err)
		return 1
	}
	if !hasTo {
		latest, err := pipeline.LatestEventMs(ctx, conn, chCfg.Database, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "attributor fit: %v\n", err)
			return 1
		}
		if latest == 0 {
			fmt.Fprintf(stderr, "attributor fit: %s: database %s holds no events: nothing to fit on (run the pipeline first, or give --from and --to)\n", *model, chCfg.Database)
			return 1
		}
		toMs = latest + 1
	}
	if !hasFrom {
		fromMs = toMs - lookback.Milliseconds()
	}
	if toMs <= fromMs {
		fmt.Fprintf(stderr, "attributor fit: window: --to (%s) must be after --from (%s)\n", schemas.FormatTimeMs(toMs), schemas.FormatTimeMs(fromMs))
		return 2
	}
	paths, err := fit.Paths(ctx, conn, chCfg.Database, acfg, fromMs, toMs)
	if err != nil {
		fmt.Fprintf(stderr, "attributor fit: %v\n", err)
		return 1
	}
	window := fmt.Sprintf("[%s, %s)", schemas.FormatTimeMs(fromMs), schemas.FormatTimeMs(toMs))
	var f fit.Fit
	if *model == "markov" {
		f.Markov, err = attribution.FitMarkov(paths, *order)
	} else {
		f.Shapley, err = attribution.FitShapley(paths)
	}
	if err != nil {
		fmt.Fprintf(stderr, "attributor fit: %s over %s: %v; nothing stored\n", *model, window, err)
		return 1
	}
	if _, err := fit.Store(ctx, conn, chCfg.Database, f, time.Now()); err != nil {
		fmt.Fprintf(stderr, "attributor fit: %v\n", err)
		return 1
	}
	if err := writeFit(stdout, *format, f); err != nil {
		fmt.Fprintf(stderr, "attributor fit: %v\n", err)
		return 1
	}
	return 0
}

// parseFitTime reads a day (YYYY-MM-DD, its midnight UTC) or an RFC 3339
// time into epoch milliseconds.
func parseFitTime(s string) (int64, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UnixMilli(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("want a day (2024-03-01) or an RFC 3339 time (2024-03-01T12:00:00Z), got %q", s)
	}
	return t.UnixMilli(), nil
}

// fitChannel is one channel's line of a printed fit.
type fitChannel struct {
	Channel       string   `json:"channel"`
	RemovalEffect *float64 `json:"removal_effect,omitempty"` // markov
	Conversions   *float64 `json:"conversions,omitempty"`    // shapley: training conversions credited
	Share         float64  `json:"share"`
}

// fitReport is what `attributor fit` prints.
type fitReport struct {
	FitID         string       `json:"fit_id"`
	Model         string       `json:"model"`
	Order         int          `json:"order,omitempty"`
	From          string       `json:"from"`
	To            string       `json:"to"`
	DistinctPaths int          `json:"distinct_paths"`
	Paths         uint64       `json:"paths"`
	Conversions   uint64       `json:"conversions"`
	Nulls         uint64       `json:"nulls"`
	P             *float64     `json:"p_conversion,omitempty"` // markov: P of the chain
	Channels      []fitChannel `json:"channels"`
	Warnings      []string     `json:"warnings"`
}

func newFitReport(f fit.Fit) fitReport {
	var s *attribution.FitSummary
	var r fitReport
	if f.Markov != nil {
		s = &f.Markov.FitSummary
		r.Order, r.P = f.Markov.Order, &f.Markov.P
		for _, e := range f.Markov.Effects {
			re := e.RemovalEffect
			r.Channels = append(r.Channels, fitChannel{Channel: e.Channel, RemovalEffect: &re, Share: e.Share})
		}
	} else {
		s = &f.Shapley.FitSummary
		for _, e := range f.Shapley.Effects {
			c := e.Conversions
			r.Channels = append(r.Channels, fitChannel{Channel: e.Channel, Conversions: &c, Share: e.Share})
		}
	}
	r.FitID, r.Model, r.From, r.To = s.ID, s.Model, schemas.FormatTimeMs(s.FromMs), schemas.FormatTimeMs(s.ToMs)
	r.DistinctPaths, r.Paths, r.Conversions, r.Nulls = s.DistinctPaths, s.Paths, s.Conversions, s.Nulls
	r.Warnings = append([]string{}, s.Warnings...)
	return r
}

// writeFit prints the fit in format: table (a summary, then a line per
// channel), csv (a line per channel, the summary columns repeated) or json.
func writeFit(w io.Writer, format string, f fit.Fit) error {
	r := newFitReport(f)
	effect := "removal_effect"
	if r.Model == "shapley" {
		effect = "conversions"
	}
	value := func(c fitChannel) float64 {
		if c.RemovalEffect != nil {
			return *c.RemovalEffect
		}
		return *c.Conversions
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"fit_id", "model", "order", "from", "to", "channel", effect, "share"})
		for _, c := range r.Channels {
			cw.Write([]string{r.FitID, r.Model, strconv.Itoa(r.Order), r.From, r.To, c.Channel,
				strconv.FormatFloat(value(c), 'g', -1, 64), strconv.FormatFloat(c.Share, 'g', -1, 64)})
		}
		cw.Flush()
		return cw.Error()
	}
	printFitSummary(w, "", summaryOf(f))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "channel\t%s\tshare\t\n", effect)
	for _, c := range r.Channels {
		fmt.Fprintf(tw, "%s\t%.6f\t%.2f%%\t\n", c.Channel, value(c), 100*c.Share)
	}
	return tw.Flush()
}

func summaryOf(f fit.Fit) *attribution.FitSummary {
	if f.Markov != nil {
		return &f.Markov.FitSummary
	}
	return &f.Shapley.FitSummary
}

// printFitSummary prints a fit's id, window, counts and warnings, each line
// starting with prefix.
func printFitSummary(w io.Writer, prefix string, s *attribution.FitSummary) {
	fmt.Fprintf(w, "%sfit %s: %s over [%s, %s): %d paths (%d distinct): %d converting, %d not; %d channels\n",
		prefix, s.ID, s.Model, schemas.FormatTimeMs(s.FromMs), schemas.FormatTimeMs(s.ToMs), s.Paths, s.DistinctPaths, s.Conversions, s.Nulls, len(s.Channels))
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "%swarning: %s\n", prefix, warn)
	}
}
