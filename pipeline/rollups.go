package pipeline

import (
	"context"
	"time"

	"github.com/attributor/attributor/pipeline/rollup"
)

// rollupLoop rolls up the quiet days every RollupEvery (see
// pipeline/rollup) until ctx ends. A failed run is logged and tried again
// at the next tick: the views read the days it did not record live, so
// nothing is wrong meanwhile, only slower. Every instance of a group runs
// it; concurrent runs are safe (the latest recorded run of a day wins).
func (r *Runner) rollupLoop(ctx context.Context) {
	if r.cfg.RollupEvery <= 0 || r.conn == nil {
		return
	}
	t := time.NewTicker(r.cfg.RollupEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := rollup.Run(ctx, r.conn, rollup.Options{Database: r.cfg.ClickHouse.Database, Cluster: r.cfg.ClickHouse.Cluster, Quiet: r.cfg.RollupQuiet, Logger: r.cfg.Logger})
		switch {
		case err != nil && ctx.Err() == nil:
			r.cfg.Logger.Warn("rollup failed; the views read the days not rolled up live, trying again at the next tick", "err", err)
		case err == nil && res.CreditDays+res.TouchpointDays > 0:
			r.cfg.Logger.Info("rollup: days rolled up", "credit_days", res.CreditDays, "touchpoint_days", res.TouchpointDays, "took", res.Elapsed.Round(time.Millisecond))
		}
	}
}
