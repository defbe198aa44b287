package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/schemas"
)

func init() {
	register("rollup", "roll up whole days into the tables the aggregate views read (idempotent)", runRollup)
}

func runRollup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	svc := addServiceFlags(e)
	e.Group("Rollup")
	quiet := e.Duration("rollup-quiet", "ATTRIBUTOR_ROLLUP_QUIET", rollup.DefaultQuiet, "roll up a day once nothing was written into it for this long (0: every day not rolled up yet)")
	redoFrom := e.String("redo-from", "", "", "first `day` (YYYY-MM-DD, UTC) to roll up again whatever its state, e.g. after loading rows by hand")
	redoTo := e.String("redo-to", "", "", "last `day` (inclusive) of --redo-from's range (default: --redo-from)")
	fs.Usage = e.help(stdout, "usage: attributor rollup [flags]\n\nAggregates every whole UTC day of the current credited rows and of the\ntouchpoints that is not rolled up yet (or was written into since) into the\ntables that credited_daily, channel_performance and model_comparison read;\nthe views read the other days live. Safe to run again, beside `attributor\nrun` (which does the same every --rollup-every) and from several\ninstances at once.")
	if code, ok := parseFlags(fs, e, args, stderr, "rollup"); !ok {
		return code
	}
	chCfg, err := svc.clickHouseConfig()
	if err == nil {
		err = schemas.ValidIdentifier(chCfg.Database)
	}
	opt := rollup.Options{Database: chCfg.Database, Cluster: chCfg.Cluster, Quiet: offIfZero(*quiet)}
	if err == nil && *redoFrom != "" {
		if *redoTo == "" {
			*redoTo = *redoFrom
		}
		if opt.RedoFrom, err = time.Parse(time.DateOnly, *redoFrom); err != nil {
			err = fmt.Errorf("redo-from: %q is not a day (YYYY-MM-DD)", *redoFrom)
		} else if opt.RedoTo, err = time.Parse(time.DateOnly, *redoTo); err != nil {
			err = fmt.Errorf("redo-to: %q is not a day (YYYY-MM-DD)", *redoTo)
		} else if opt.RedoTo.Before(opt.RedoFrom) {
			err = fmt.Errorf("redo-to: %s is before redo-from %s", *redoTo, *redoFrom)
		}
	} else if err == nil && *redoTo != "" {
		err = fmt.Errorf("redo-to: needs --redo-from")
	}
	if err == nil && *quiet < 0 {
		err = fmt.Errorf("rollup-quiet: must be >= 0, got %s", formatDuration(*quiet))
	}
	if err != nil {
		fmt.Fprintf(stderr, "attributor rollup: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	conn, err := pipeline.OpenClickHouse(ctx, chCfg)
	if err != nil {
		fmt.Fprintf(stderr, "attributor rollup: %v\n", err)
		return 1
	}
	defer conn.Close()
	res, err := rollup.Run(ctx, conn, opt)
	if err != nil {
		fmt.Fprintf(stderr, "attributor rollup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rolled up %d days of credits and %d days of touchpoints in %s (run %d)\n",
		res.CreditDays, res.TouchpointDays, res.Elapsed.Round(time.Millisecond), res.RunID)
	return 0
}

// offIfZero maps a flag's 0 (off, or none) to the negative duration that
// pipeline.Config reads so (its zero means the default).
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
