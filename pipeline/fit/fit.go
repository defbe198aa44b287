// Package fit reads the fitting paths of the data-driven models from the
// raw ClickHouse tables, and stores and loads fits in model_fits
// (schemas/clickhouse/030_model_fits.sql). ClickHouse builds and counts the
// distinct paths in one query, so that a fit over billions of events moves
// only the distinct paths to Go; attribution.FitMarkov and
// attribution.FitShapley solve them.
//
// The paths follow attribution.FitPathsBuilder's definition exactly (the
// tests compare the two on random events): a converting path per
// deduplicated conversion in [from, to) under the click lookback, the
// view-through window and, with ResetOnConversion, the previous conversion;
// a null path per attribution key from its touchpoints after its last
// conversion before to, within the windows of a conversion at to. Touchpoints
// stored as too late (too_late = 1) are never part of a path.
package fit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// pathsQuery builds the distinct fitting paths with their counts. Per
// attribution key it gathers the touchpoints (deduplicated by event_id,
// sorted by (ts_ms, event_id)) and the conversions (likewise), then
// ARRAY JOINs one row per conversion plus one (index 0) for the null path,
// cuts each row's path from the touchpoints by its windows, collapses
// repeated channels and counts. @from, @to, @lookback, @view (ms) and
// @reset (0 or 1) are replaced by integers, {db} by the validated database
// name. It needs no window function (ClickHouse 18.16 has none). A
// touchpoint stored twice with one event_id and two times counts once, at
// the earlier time. The lambdas take every value they use as an argument
// (broadcast with arrayResize): 18.16 drops a subquery's columns that only
// a lambda refers to, and then fails with "Unknown identifier".
const pathsQuery = `
SELECT path, toUInt64(sum(j > 0)) AS conversions, toUInt64(sum(j = 0)) AS nulls
FROM
(
    SELECT
        j,
        arrayMap(x -> x.3, arrayFilter((x, after, last, anchor) ->
                x.1 > after AND x.1 <= last AND x.1 >= anchor - if(x.4 = 1, @view, @lookback),
            tps,
            arrayResize(emptyArrayInt64(), length(tps), bound),
            arrayResize(emptyArrayInt64(), length(tps), if(j = 0, at - 1, at)),
            arrayResize(emptyArrayInt64(), length(tps), at))) AS raw,
        arrayFilter((c, prev, i) -> i = 1 OR c != prev, raw, arrayPopBack(arrayPushFront(raw, '')), arrayEnumerate(raw)) AS path
    FROM
    (
        SELECT
            j,
            tps,
            if(j = 0, toInt64(@to), cv_ts[j]) AS at,
            if(j = 0,
                arrayReduce('max', arrayConcat([toInt64(-9223372036854775808)], cv_ts)),
                if(@reset = 1 AND j > 1, cv_ts[j - 1], toInt64(-9223372036854775808))) AS bound
        FROM
        (
            SELECT user_key, tps, cv_ts
            FROM
            (
                SELECT user_key, arraySort(x -> (x.1, x.2), groupArray((ts, event_id, channel, imp))) AS tps
                FROM
                (
                    SELECT user_key, event_id, min(ts_ms) AS ts, argMin(channel, ts_ms) AS channel, toUInt8(argMin(interaction, ts_ms) = 'impression') AS imp
                    FROM {db}.touchpoints
                    WHERE too_late = 0 AND ts_ms >= @from - @lookback AND ts_ms < @to
                    GROUP BY user_key, event_id
                )
                GROUP BY user_key
            ) AS key_touchpoints
            ANY LEFT JOIN
            (
                SELECT user_key, arrayMap(x -> x.1, arraySort(x -> (x.1, x.2), groupArray((ts, event_id)))) AS cv_ts
                FROM
                (
                    SELECT user_key, event_id, min(ts_ms) AS ts
                    FROM {db}.conversions
                    WHERE ts_ms >= @from - @lookback AND ts_ms < @to
                    GROUP BY user_key, event_id
                )
                GROUP BY user_key
            ) AS key_conversions USING user_key
        )
        ARRAY JOIN arrayConcat([0], arrayEnumerate(cv_ts)) AS j
        WHERE j = 0 OR cv_ts[j] >= @from
    )
)
WHERE length(path) > 0
GROUP BY path
ORDER BY path`

// Paths reads the fitting paths of the window [fromMs, toMs) from the raw
// tables of database db, under the windows of cfg (defaults applied).
func Paths(ctx context.Context, conn driver.Conn, db string, cfg attribution.Config, fromMs, toMs int64) (attribution.FitPaths, error) {
	out := attribution.FitPaths{FromMs: fromMs, ToMs: toMs}
	if err := schemas.ValidIdentifier(db); err != nil {
		return out, fmt.Errorf("database: %w", err)
	}
	if toMs < fromMs {
		return out, fmt.Errorf("window: to (%d) is before from (%d)", toMs, fromMs)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return out, err
	}
	lookback := cfg.Lookback.Milliseconds()
	view := min(cfg.ViewWindow, cfg.Lookback).Milliseconds()
	reset := 0
	if cfg.ResetOnConversion {
		reset = 1
	}
	q := strings.NewReplacer(
		"{db}", db,
		"@from", strconv.FormatInt(fromMs, 10),
		"@to", strconv.FormatInt(toMs, 10),
		"@lookback", strconv.FormatInt(lookback, 10),
		"@view", strconv.FormatInt(view, 10),
		"@reset", strconv.Itoa(reset),
	).Replace(pathsQuery)
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return out, fmt.Errorf("fitting paths: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p attribution.FitPath
		if err := rows.Scan(&p.Channels, &p.Conversions, &p.Nulls); err != nil {
			return out, fmt.Errorf("fitting paths: %w", err)
		}
		out.Paths = append(out.Paths, p)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("fitting paths: %w", err)
	}
	return out, nil
}

// Fit is a stored fit: one of Markov and Shapley is set.
type Fit struct {
	Markov  *attribution.MarkovFit
	Shapley *attribution.ShapleyFit
}

func (f Fit) summary() (*attribution.FitSummary, string, error) {
	switch {
	case f.Markov != nil && f.Shapley == nil:
		return &f.Markov.FitSummary, fmt.Sprintf(`{"order":%d}`, f.Markov.Order), nil
	case f.Shapley != nil && f.Markov == nil:
		return &f.Shapley.FitSummary, `{}`, nil
	}
	return nil, "", errors.New("fit: exactly one of Markov and Shapley must be set")
}

// NewID names a fit: its model, its parameters, when it was made and the
// first 12 hex digits of the SHA-256 of its JSON, e.g.
// "markov-o1-20240301T120000Z-3f2a9c0d1e4b".
func NewID(f Fit, created time.Time) (string, error) {
	s, _, err := f.summary()
	if err != nil {
		return "", err
	}
	var b []byte
	name := s.Model
	if f.Markov != nil {
		name += "-o" + strconv.Itoa(f.Markov.Order)
		b, err = json.Marshal(f.Markov)
	} else {
		b, err = json.Marshal(f.Shapley)
	}
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return name + "-" + created.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(sum[:6]), nil
}

// Store gives the fit an ID (NewID) unless it has one, and inserts it into
// db.model_fits. It returns the ID.
func Store(ctx context.Context, conn driver.Conn, db string, f Fit, created time.Time) (string, error) {
	if err := schemas.ValidIdentifier(db); err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	s, params, err := f.summary()
	if err != nil {
		return "", err
	}
	if s.ID == "" {
		if s.ID, err = NewID(f, created); err != nil {
			return "", err
		}
	}
	var body []byte
	var effects, shares []float64
	if f.Markov != nil {
		body, err = json.Marshal(f.Markov)
		for _, e := range f.Markov.Effects {
			effects, shares = append(effects, e.RemovalEffect), append(shares, e.Share)
		}
	} else {
		body, err = json.Marshal(f.Shapley)
		for _, e := range f.Shapley.Effects {
			effects, shares = append(effects, e.Conversions), append(shares, e.Share)
		}
	}
	if err != nil {
		return "", err
	}
	for _, v := range append(slices.Clone(effects), shares...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("fit %s: an effect is %v", s.ID, v)
		}
	}
	warnings := s.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".model_fits (fit_id, model, params, from_ms, to_ms, distinct_paths, paths, conversions, nulls, channels, effects, shares, warnings, fit_json, created_ms, created_date)")
	if err != nil {
		return "", fmt.Errorf("insert model_fits: %w", err)
	}
	created = created.UTC()
	if err := batch.Append(s.ID, s.Model, params, s.FromMs, s.ToMs, uint64(s.DistinctPaths), s.Paths, s.Conversions, s.Nulls,
		s.Channels, effects, shares, warnings, string(body), created.UnixMilli(), created); err != nil {
		batch.Abort()
		return "", fmt.Errorf("insert model_fits: %w", err)
	}
	if err := batch.Send(); err != nil {
		return "", fmt.Errorf("insert model_fits: %w", err)
	}
	return s.ID, nil
}

// Latest loads the newest fit of model ("markov" or "shapley") from
// db.model_fits; for markov, of the given order. It returns a zero Fit and
// no error when there is none.
func Latest(ctx context.Context, conn driver.Conn, db, model string, order int) (Fit, error) {
	if err := schemas.ValidIdentifier(db); err != nil {
		return Fit{}, fmt.Errorf("database: %w", err)
	}
	params := "{}"
	switch model {
	case "markov":
		params = fmt.Sprintf(`{"order":%d}`, order)
	case "shapley":
	default:
		return Fit{}, fmt.Errorf("model: %q is not a data-driven model (markov, shapley)", model)
	}
	rows, err := conn.Query(ctx, "SELECT fit_json FROM "+db+".model_fits FINAL WHERE model = ? AND params = ? ORDER BY created_ms DESC, fit_id DESC LIMIT 1", model, params)
	if err != nil {
		return Fit{}, fmt.Errorf("load %s fit: %w", model, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return Fit{}, rows.Err()
	}
	var body string
	if err := rows.Scan(&body); err != nil {
		return Fit{}, fmt.Errorf("load %s fit: %w", model, err)
	}
	var f Fit
	if model == "markov" {
		f.Markov = new(attribution.MarkovFit)
		err = json.Unmarshal([]byte(body), f.Markov)
		if err == nil {
			err = f.Markov.Validate()
		}
	} else {
		f.Shapley = new(attribution.ShapleyFit)
		err = json.Unmarshal([]byte(body), f.Shapley)
		if err == nil {
			err = f.Shapley.Validate()
		}
	}
	if err != nil {
		return Fit{}, fmt.Errorf("load %s fit: %w", model, err)
	}
	return f, nil
}
