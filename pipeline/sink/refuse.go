package sink

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// The sink's tables, in the order insertAll writes them (at once).
const (
	tableTouchpoints = "touchpoints"
	tableConversions = "conversions"
	tableCredited    = "attributed_conversions"
	tableSpend       = "ad_spend"
	tableIdentities  = "identities"
	tableLinks       = "links"
)

var tables = [...]string{tableTouchpoints, tableConversions, tableCredited, tableSpend, tableIdentities, tableLinks}

// failure sums up the error of a write: the worst class over its parts,
// and the tables that refused rows (for Refused) or the table that is
// unusable (for Unusable, with its error).
type failure struct {
	class    Class
	refusing []string
	table    string
	err      error
}

// classifyWrite classifies each part of a write's error (one per table,
// joined). Any unusable table stops the run; any transient part retries the
// whole batch (rewriting rows is harmless: every table collapses identical
// rows); only when every part is a refusal are the refusing tables split.
func classifyWrite(err error) failure {
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	f := failure{class: Refused}
	for _, p := range parts {
		var te *TableError
		table := ""
		if errors.As(p, &te) {
			table = te.Table
		}
		switch c := Classify(p); {
		case c == Unusable && table != "":
			return failure{class: Unusable, table: table, err: p}
		case c == Refused && table != "":
			f.refusing = append(f.refusing, table)
		default:
			f.class = Transient
		}
	}
	if f.class == Transient {
		f.refusing = nil
	}
	return f
}

// refusal is a row (a piece: a unit holding one row, or one conversion's
// credited set) ClickHouse refused, with its error.
type refusal struct {
	piece *flow.Unit
	err   error
}

// writeRefusing writes the rows of b the tables take and returns dead
// letters for those they refuse, found by bisection: after the whole
// batch was refused, each half is tried, and so on down to single rows.
// k refused rows among n cost about 2k·log2(n) inserts. A non-refusal
// error on the way is returned (and the batch retried or the run stopped).
func (s *Sink) writeRefusing(ctx context.Context, b *batch, f failure, cols *insertColumns) (dead []flow.DeadLetter, rows map[string]int, err error) {
	rows = map[string]int{}
	for _, table := range f.refusing {
		ref, err := s.bisect(ctx, table, piecesOf(b.units, table), cols, nil)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range ref {
			dead = append(dead, refusedLetter(table, r))
			rows[table] += r.piece.Rows()
		}
	}
	return dead, rows, nil
}

// bisect inserts pieces into table, or, when that is refused, each half.
// known is the error of inserting pieces, when already tried.
func (s *Sink) bisect(ctx context.Context, table string, pieces []*flow.Unit, cols *insertColumns, known error) ([]refusal, error) {
	if len(pieces) == 0 {
		return nil, nil
	}
	err := known
	if err == nil {
		if err = s.insert(ctx, table, pieces, cols); err == nil {
			return nil, nil
		}
		if Classify(err) != Refused {
			return nil, err
		}
	}
	if len(pieces) == 1 {
		return []refusal{{pieces[0], err}}, nil
	}
	mid := len(pieces) / 2
	left, err := s.bisect(ctx, table, pieces[:mid], cols, nil)
	if err != nil {
		return nil, err
	}
	right, err := s.bisect(ctx, table, pieces[mid:], cols, nil)
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// piecesOf splits the rows units hold for table into pieces of one row,
// or one credited set (a conversion's rows under one version: refused or
// written together, as the conversion is what a user looks for). Pieces
// share the units' slices, read-only; they never go back to the pool.
func piecesOf(units []*flow.Unit, table string) []*flow.Unit {
	var out []*flow.Unit
	for _, u := range units {
		switch table {
		case tableTouchpoints:
			for k := range u.TPs {
				out = append(out, &flow.Unit{TPs: u.TPs[k : k+1 : k+1]})
			}
		case tableConversions:
			for k := range u.Convs {
				out = append(out, &flow.Unit{Convs: u.Convs[k : k+1 : k+1]})
			}
		case tableSpend:
			for k := range u.Spend {
				out = append(out, &flow.Unit{Spend: u.Spend[k : k+1 : k+1]})
			}
		case tableIdentities:
			for k := range u.IDs {
				out = append(out, &flow.Unit{IDs: u.IDs[k : k+1 : k+1]})
			}
		case tableLinks:
			for k := range u.Links {
				out = append(out, &flow.Unit{Links: u.Links[k : k+1 : k+1]})
			}
		case tableCredited:
			cr := &u.Credits
			for _, set := range cr.Sets {
				p := &flow.Unit{}
				p.Credits.Models = cr.Models
				p.Credits.Path = cr.Path[set.Path : set.Path+set.PathLen : set.Path+set.PathLen]
				p.Credits.Cells = cr.Cells[set.Cells : set.Cells+set.CellsLen : set.Cells+set.CellsLen]
				set.Path, set.Cells = 0, 0
				p.Credits.Sets = []flow.CreditSet{set}
				out = append(out, p)
			}
		}
	}
	return out
}

// refusedLetter is the dead-letter record of a refused row: its id as the
// key, the row as JSON (the table's column names) as the value, the table
// and the server's message in the headers. A credited set carries the
// conversion's id: reprocessing that conversion (after fixing the table)
// writes it again.
func refusedLetter(table string, r refusal) flow.DeadLetter {
	p := r.piece
	var key string
	var row any
	partition := -1 // the input partition, when the row is an event's
	switch {
	case len(p.TPs) == 1:
		t := &p.TPs[0]
		key, partition = t.TP.EventID, int(t.Partition)
		row = map[string]any{
			"event_id": t.TP.EventID, "user_key": t.TP.Key(), "user_id": t.TP.UserID, "anonymous_id": t.TP.AnonymousID,
			"ts_ms": t.TP.TimeMs, "timestamp": msTime(t.TP.TimeMs), "interaction": t.TP.Interaction, "channel": t.TP.Channel,
			"source": t.TP.Source, "medium": t.TP.Medium, "campaign": t.TP.Campaign, "cost": t.TP.Cost,
			"session_start_ms": t.SessionStart, "kafka_partition": t.Partition, "too_late": t.TooLate,
		}
	case len(p.Convs) == 1:
		c := &p.Convs[0]
		key, partition = c.CV.EventID, int(c.Partition)
		row = map[string]any{
			"event_id": c.CV.EventID, "user_key": c.CV.Key(), "user_id": c.CV.UserID, "anonymous_id": c.CV.AnonymousID,
			"ts_ms": c.CV.TimeMs, "timestamp": msTime(c.CV.TimeMs), "conversion_type": c.CV.ConversionType,
			"revenue_micros": c.CV.RevenueMicros, "currency": c.CV.Currency, "kafka_partition": c.Partition,
		}
	case len(p.Spend) == 1:
		a := &p.Spend[0]
		key = a.EventID
		row = map[string]any{
			"event_id": a.EventID, "date": a.Date.Format(time.DateOnly), "channel": a.Channel, "source": a.Source,
			"medium": a.Medium, "campaign": a.Campaign, "cost_micros": a.CostMicros, "currency": a.Currency,
		}
	case len(p.IDs) == 1:
		r := &p.IDs[0]
		key, partition = r.ID.EventID, int(r.Partition)
		row = map[string]any{
			"event_id": r.ID.EventID, "anonymous_id": r.ID.AnonymousID, "user_id": r.ID.UserID,
			"ts_ms": r.ID.TimeMs, "timestamp": msTime(r.ID.TimeMs), "kafka_partition": r.Partition, "too_late": r.TooLate,
		}
	case len(p.Links) == 1:
		r := &p.Links[0]
		key, partition = r.Link.EventID, int(r.Home)
		row = map[string]any{
			"anonymous_id": r.Link.AnonymousID, "user_id": r.Link.UserID, "ts_ms": r.Link.TimeMs, "timestamp": msTime(r.Link.TimeMs),
			"event_id": r.Link.EventID, "home": r.Home, "origin": r.Origin,
		}
	case len(p.Credits.Sets) == 1:
		set := &p.Credits.Sets[0]
		key = set.ConversionID
		models := map[string]bool{}
		for _, c := range p.Credits.Cells {
			models[p.Credits.Models[c.Model]] = true
		}
		var names []string
		for _, m := range p.Credits.Models {
			if models[m] {
				names = append(names, m)
			}
		}
		row = map[string]any{
			"conversion_id": set.ConversionID, "conversion_type": set.ConversionType, "user_key": set.UserKey,
			"conversion_ts_ms": set.TimeMs, "timestamp": msTime(set.TimeMs), "version": set.Version,
			"currency": set.Currency, "models": names, "rows": len(p.Credits.Cells), "path_length": set.PathLen,
		}
	}
	value, _ := json.Marshal(map[string]any{"table": table, "row": row}) // maps of plain values: cannot fail
	return flow.DeadLetter{
		Msg:    kafka.Message{Key: []byte(key), Value: value, Partition: partition},
		Reason: flow.ReasonRefused,
		Err:    r.err.Error(),
		Table:  table,
	}
}

func msTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}
