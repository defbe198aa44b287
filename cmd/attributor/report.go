package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/report"
	"github.com/attributor/attributor/schemas"
)

func init() {
	register("report", "print an analyst report (channel performance, model comparison, ...) from ClickHouse", runReportCommand)
}

func runReportCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	var (
		from    = e.Group("Report").fs.String("from", "", "first `day` (YYYY-MM-DD, UTC) of the range; default: the first with data")
		to      = fs.String("to", "", "last `day` (YYYY-MM-DD, UTC) of the range, inclusive; default: the last with data")
		model   = fs.String("model", "", "only this attribution `model`, or all (reports with a model column; channel_performance: default linear)")
		channel = fs.String("channel", "", "only this `channel` (reports with a channel column)")
		format  = fs.String("format", string(report.Table), "output `format`: table, csv or json")
		limit   = fs.Int("limit", 0, "print at most `N` rows (default: all; 20 for top_paths)")
		id      = fs.String("id", "", "the conversion `ID` report conversion shows")
		by      = fs.String("by", "", "group channel_performance's rows by `what`: channel (default), or campaign (a row per channel and campaign)")
		columns = fs.String("columns", "", "comma-separated `columns` to print, in that order, or all (default: a view that fits 100 columns for channel_performance, model_comparison and assisted_conversions, else all)")
		formula = fs.Bool("csv-formulas", false, "write CSV cells that start with = + - @ as they are (default: prefix a ' so that a spreadsheet does not run them as formulas)")
		svc     = addServiceFlags(e)
	)
	fs.Usage = e.help(stdout, "usage: attributor report NAME [--from DAY] [--to DAY] [--model M|all] [--channel C] [--by channel|campaign] [--format table|csv|json] [--limit N] [--columns A,B|all]\n       attributor report conversion --id ID [--model M] [--format table|csv|json] [--columns A,B|all]\n\nPrints a report of the analyst views, summed over the days of the range,\nor one conversion's credited rows (report conversion).\nWithout NAME, lists the reports.")
	names, code, ok := parseArgs(fs, e, args, stderr, "report", true)
	if !ok {
		return code
	}
	switch len(names) {
	case 0:
		listReports(stdout)
		return 0
	case 1:
	default:
		return exitUsage(fs, stderr, "report", fmt.Sprintf("one report at a time, got %q", names))
	}
	r, err := report.Lookup(names[0])
	if err != nil {
		return exitUsage(fs, stderr, "report", err.Error())
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		return exitUsage(fs, stderr, "report", err.Error())
	}
	filter := report.Filter{From: *from, To: *to, Model: *model, Channel: *channel, By: *by, Limit: *limit, ID: *id}
	if err := filter.Validate(r); err != nil {
		return exitUsage(fs, stderr, "report", err.Error())
	}
	chCfg, err := svc.clickHouseConfig()
	if err == nil {
		err = schemas.ValidIdentifier(chCfg.Database)
	}
	if err != nil {
		fmt.Fprintf(stderr, "attributor report: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	conn, err := pipeline.OpenClickHouse(ctx, chCfg)
	if err != nil {
		fmt.Fprintf(stderr, "attributor report: %v\n", err)
		return 1
	}
	defer conn.Close()
	res, err := report.Run(ctx, conn, chCfg.Database, r, filter)
	if err != nil {
		var ex *clickhouse.Exception
		switch {
		case errors.As(err, &ex) && (ex.Code == 60 || ex.Code == 81): // UNKNOWN_TABLE, UNKNOWN_DATABASE
			err = fmt.Errorf("%w\n(the views are created by: attributor migrate --database %s)", err, chCfg.Database)
		case errors.As(err, &ex) && ex.Code == 47: // UNKNOWN_IDENTIFIER: tables of an earlier schema
			err = fmt.Errorf("%w\n(if an earlier release wrote this database, bring its tables up to date: attributor migrate --database %s)", err, chCfg.Database)
		}
		fmt.Fprintf(stderr, "attributor report: %v\n", err)
		return 1
	}
	if err := res.Shape(r, filter, splitList(*columns)); err != nil {
		return exitUsage(fs, stderr, "report", err.Error())
	}
	if err := res.WriteWith(stdout, f, report.Options{CSVFormulas: *formula}); err != nil {
		fmt.Fprintf(stderr, "attributor report: %v\n", err)
		return 1
	}
	return 0
}

// listReports prints the registry: one report a line with its summary.
func listReports(w io.Writer) {
	fmt.Fprintln(w, "reports (attributor report NAME [flags]; --help for the flags):")
	width := 0
	for _, r := range report.Reports() {
		width = max(width, len(r.Name))
	}
	for _, r := range report.Reports() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.Name, r.Summary)
	}
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`report top_paths --limit 5`), which flag.Parse
// alone stops at, and returns the positional arguments. After "--" every
// argument is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse consumed a "--" terminator when the argument before
		// the rest is one.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
