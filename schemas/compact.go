package schemas

import (
	"fmt"
	"time"
)

// CompactRow is one row of the ClickHouse table attributed_conversions:
// a conversion under one version, its path once, and the credits of every
// model that credited it, flattened position-major: the credit of
// Models[i] for the touchpoint at position p (1-based; 1 for the single
// unattributed entry of an empty path) is at index (p-1)*len(Models) + i.
// The view credited_conversions unfolds it into CreditedRows.
type CompactRow struct {
	ConversionID, ConversionType, UserKey, Currency string
	ConversionTimeMs                                int64
	Version                                         uint32
	RevenueMicros                                   int64 // the conversion's value: each model's credits sum to it
	TouchpointIDs, Channels, Sources, Mediums       []string
	Campaigns, Interactions                         []string
	TouchpointTimesMs                               []int64
	Models, FitIDs                                  []string
	Fractions                                       []float64
	Micros                                          []int64
}

// CompactColumns are the columns of attributed_conversions that writers
// insert, in the order of CompactRow.Values.
const CompactColumns = "conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, " +
	"touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros"

// Values returns r's values in CompactColumns order, in Go types that
// clickhouse-go appends.
func (r *CompactRow) Values() []any {
	day := time.UnixMilli(r.ConversionTimeMs).UTC().Truncate(24 * time.Hour)
	return []any{r.ConversionID, r.ConversionType, r.UserKey, r.Currency, r.ConversionTimeMs, day, r.Version, r.RevenueMicros,
		uint32(len(r.TouchpointIDs)), r.TouchpointIDs, r.Channels, r.Sources, r.Mediums, r.Campaigns, r.Interactions,
		r.TouchpointTimesMs, r.Models, r.FitIDs, r.Fractions, r.Micros}
}

// Compact groups credited rows into compact rows, one per conversion, in
// the order the conversions first appear; the rows of a conversion must
// be consecutive, each model's in position order, as replay emits them.
// version is the version of every row made. It is the inverse of what
// credited_conversions shows (for tests and tools that write rows by
// hand); it refuses rows that do not form a complete set.
func Compact(rows []CreditedRow, version uint32) ([]CompactRow, error) {
	var out []CompactRow
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].ConversionID == rows[i].ConversionID {
			j++
		}
		c, err := compactOne(rows[i:j], version)
		if err != nil {
			return nil, fmt.Errorf("conversion %q: %w", rows[i].ConversionID, err)
		}
		out = append(out, c)
		i = j
	}
	return out, nil
}

func compactOne(rows []CreditedRow, version uint32) (CompactRow, error) {
	f := &rows[0]
	c := CompactRow{ConversionID: f.ConversionID, ConversionType: f.ConversionType, UserKey: f.UserKey, Currency: f.Currency,
		ConversionTimeMs: f.ConversionTimeMs, Version: version,
		TouchpointIDs: []string{}, Channels: []string{}, Sources: []string{}, Mediums: []string{}, Campaigns: []string{},
		Interactions: []string{}, TouchpointTimesMs: []int64{}}
	n := f.PathLength
	stride := max(n, 1)
	if len(rows)%stride != 0 {
		return c, fmt.Errorf("%d rows for a path of %d", len(rows), n)
	}
	for k := range rows {
		r := &rows[k]
		wantPos := 0
		if n > 0 {
			wantPos = k%stride + 1
		}
		if r.PathLength != n || r.Position != wantPos {
			return c, fmt.Errorf("row %d: position %d of %d, want %d of %d", k, r.Position, r.PathLength, wantPos, n)
		}
		if k%stride == 0 {
			c.Models = append(c.Models, r.Model)
			c.FitIDs = append(c.FitIDs, r.FitID)
		} else if r.Model != rows[k-1].Model {
			return c, fmt.Errorf("row %d: model %s within the rows of %s", k, r.Model, rows[k-1].Model)
		}
		if k < stride {
			c.RevenueMicros += r.RevenueMicros
			if n > 0 {
				c.TouchpointIDs = append(c.TouchpointIDs, r.TouchpointID)
				c.Channels = append(c.Channels, r.Channel)
				c.Sources = append(c.Sources, r.Source)
				c.Mediums = append(c.Mediums, r.Medium)
				c.Campaigns = append(c.Campaigns, r.Campaign)
				c.Interactions = append(c.Interactions, r.Interaction)
				c.TouchpointTimesMs = append(c.TouchpointTimesMs, r.TouchpointTimeMs)
			}
		}
	}
	models := len(rows) / stride
	for p := range stride {
		for k := range models {
			r := &rows[k*stride+p]
			c.Fractions = append(c.Fractions, r.Credit)
			c.Micros = append(c.Micros, r.RevenueMicros)
		}
	}
	return c, nil
}
