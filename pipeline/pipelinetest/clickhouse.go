package pipelinetest

import (
	"context"
	"time"

	"github.com/attributor/attributor/schemas"
)

// Credited returns the rows of the view credited_conversions, the columns
// replay prints.
func (e *Env) Credited() []schemas.CreditedRow {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.CH.Query(ctx, `SELECT conversion_id, conversion_type, user_key, model, touchpoint_id, channel, source, medium,
		campaign, interaction, credit, revenue_micros, currency, touchpoint_ts_ms, conversion_ts_ms, position, path_length, fit_id
		FROM `+e.Database+`.credited_conversions`)
	if err != nil {
		e.t.Fatalf("read credited_conversions: %v", err)
	}
	defer rows.Close()
	var out []schemas.CreditedRow
	for rows.Next() {
		var r schemas.CreditedRow
		var pos, plen uint32
		if err := rows.Scan(&r.ConversionID, &r.ConversionType, &r.UserKey, &r.Model, &r.TouchpointID, &r.Channel, &r.Source, &r.Medium,
			&r.Campaign, &r.Interaction, &r.Credit, &r.RevenueMicros, &r.Currency, &r.TouchpointTimeMs, &r.ConversionTimeMs, &pos, &plen, &r.FitID); err != nil {
			e.t.Fatalf("read credited_conversions: %v", err)
		}
		r.Position, r.PathLength = int(pos), int(plen)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("read credited_conversions: %v", err)
	}
	return out
}

// Count returns the number of rows of a table (or view) of the database,
// 0 while it does not exist.
func (e *Env) Count(table string) uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var exists uint8
	if err := e.CH.QueryRow(ctx, "EXISTS TABLE "+e.Database+"."+table).Scan(&exists); err != nil || exists == 0 {
		return 0
	}
	var n uint64
	if err := e.CH.QueryRow(ctx, "SELECT count() FROM "+e.Database+"."+table).Scan(&n); err != nil {
		e.t.Fatalf("count %s.%s: %v", e.Database, table, err)
	}
	return n
}

// WaitRows polls until table holds at least n rows and returns the count,
// or fails t after timeout. stop, when not nil, ends the wait early with
// the count so far (the process being watched exited).
func (e *Env) WaitRows(table string, n uint64, timeout time.Duration, stop func() bool) uint64 {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := e.Count(table)
		if c >= n || (stop != nil && stop()) {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s.%s: %d rows after %s, want at least %d", e.Database, table, c, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
