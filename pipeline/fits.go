package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/fit"
	"github.com/attributor/attributor/schemas"
)

// dataDrivenModels returns the data-driven models of cfg, in its order.
func dataDrivenModels(cfg attribution.Config) []string {
	var out []string
	for _, m := range cfg.Models {
		if slices.Contains(attribution.DataDrivenModelNames, m) {
			out = append(out, m)
		}
	}
	return out
}

// fitIDOf returns the id of f's fit of model ("" when none).
func fitIDOf(f *attribution.Fits, model string) string {
	switch {
	case f == nil:
	case model == "markov" && f.Markov != nil:
		return f.Markov.ID
	case model == "shapley" && f.Shapley != nil:
		return f.Shapley.ID
	}
	return ""
}

// loadFits reads the newest stored fit of every data-driven model of the
// run and, when any differs from the fits held, swaps the new set in. It
// logs, once per model, that a model has no fit yet (its credits are
// skipped), and each fit it starts applying.
func (r *Runner) loadFits(ctx context.Context) error {
	models := dataDrivenModels(r.cfg.Attribution)
	if len(models) == 0 {
		return nil
	}
	old := r.fits.Load()
	next := attribution.Fits{}
	if old != nil {
		next = *old
	}
	for _, m := range models {
		f, err := fit.Latest(ctx, r.conn, r.cfg.ClickHouse.Database, m, r.cfg.MarkovOrder)
		if err != nil {
			return err
		}
		switch {
		case f.Markov != nil:
			next.Markov = f.Markov
		case f.Shapley != nil:
			next.Shapley = f.Shapley
		default:
			if !r.noFitLogged[m] {
				r.noFitLogged[m] = true
				r.cfg.Logger.Warn(fmt.Sprintf("%s: no fit stored yet; its credits are skipped (counted in attributor.models.skipped) until one is: run `attributor fit --model %s` or start with --fit-every", m, m),
					"model", m, "params", fitParams(m, r.cfg.MarkovOrder), "database", r.cfg.ClickHouse.Database)
			}
		}
	}
	changed := false
	for _, m := range models {
		if fitIDOf(&next, m) != fitIDOf(old, m) {
			changed = true
			if id := fitIDOf(&next, m); id != "" {
				r.cfg.Logger.Info(m+": applying fit", "model", m, "fit_id", id)
			}
		}
	}
	if changed || old == nil {
		r.fits.Store(&next)
	}
	return nil
}

func fitParams(model string, order int) string {
	if model == "markov" {
		return fmt.Sprintf("order %d", order)
	}
	return "none"
}

// refit fits every data-driven model of the run on the trailing window of
// length cfg.FitWindow that ends just after the latest event stored (not
// after now), stores the fits, and applies them.
func (r *Runner) refit(ctx context.Context) error {
	db := r.cfg.ClickHouse.Database
	latest, err := LatestEventMs(ctx, r.conn, db, time.Now())
	if err != nil {
		return fmt.Errorf("refit: %w", err)
	}
	if latest == 0 {
		r.cfg.Logger.Info("refit: no events stored yet; nothing to fit on")
		return nil
	}
	to := latest + 1
	from := to - r.cfg.FitWindow.Milliseconds()
	paths, err := fit.Paths(ctx, r.conn, db, r.cfg.Attribution, from, to)
	if err != nil {
		return fmt.Errorf("refit: %w", err)
	}
	for _, m := range dataDrivenModels(r.cfg.Attribution) {
		var f fit.Fit
		switch m {
		case "markov":
			f.Markov, err = attribution.FitMarkov(paths, r.cfg.MarkovOrder)
		case "shapley":
			f.Shapley, err = attribution.FitShapley(paths)
		}
		if err != nil {
			// No conversions in the window yet, say: keep the fit held.
			r.cfg.Logger.Warn(m+": refit failed; keeping the fit held", "model", m, "from_ms", from, "to_ms", to, "err", err)
			continue
		}
		id, err := fit.Store(ctx, r.conn, db, f, time.Now())
		if err != nil {
			return fmt.Errorf("refit: %w", err)
		}
		r.cfg.Logger.Info(m+": refitted", "model", m, "fit_id", id, "from_ms", from, "to_ms", to)
	}
	return r.loadFits(ctx)
}

// fitLoop polls model_fits every FitPoll for newer fits (stored by
// `attributor fit` or another instance) and, with FitEvery, refits on the
// trailing window, until ctx ends. Failures are logged and retried at the
// next tick: the fits held stay applied.
func (r *Runner) fitLoop(ctx context.Context) {
	if len(dataDrivenModels(r.cfg.Attribution)) == 0 {
		return
	}
	poll := time.NewTicker(r.cfg.FitPoll)
	defer poll.Stop()
	var refit <-chan time.Time
	if r.cfg.FitEvery > 0 {
		t := time.NewTicker(r.cfg.FitEvery)
		defer t.Stop()
		refit = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			if err := r.loadFits(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("loading fits failed; keeping the fits held", "err", err)
			}
		case <-refit:
			if err := r.refit(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("refit failed; keeping the fits held", "err", err)
			}
		}
	}
}

// LatestEventMs returns the time of the latest touchpoint or conversion
// stored in database db that is not after now (an event from a wrong clock
// in the future does not move it); 0 when there is none.
func LatestEventMs(ctx context.Context, conn driver.Conn, db string, now time.Time) (int64, error) {
	if err := schemas.ValidIdentifier(db); err != nil {
		return 0, fmt.Errorf("database: %w", err)
	}
	var latest int64
	q := fmt.Sprintf("SELECT toInt64(greatest(ifNull((SELECT max(ts_ms) FROM %[1]s.touchpoints WHERE ts_ms <= %[2]d), 0), ifNull((SELECT max(ts_ms) FROM %[1]s.conversions WHERE ts_ms <= %[2]d), 0)))", db, now.UnixMilli())
	if err := conn.QueryRow(ctx, q).Scan(&latest); err != nil {
		return 0, fmt.Errorf("latest event: %w", err)
	}
	return latest, nil
}
