package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Value is one cell of a result. Which field holds it depends on the
// column's Kind: S for Text, T for Date, I for Count, F for the others.
// Null marks a ratio without a denominator.
type Value struct {
	S    string
	T    time.Time
	I    int64
	F    float64
	Null bool
}

// Result is what a report returned.
type Result struct {
	Columns []Column
	Rows    [][]Value
}

// Run runs report r over the views of database db, narrowed by f.
func Run(ctx context.Context, conn driver.Conn, db string, r *Report, f Filter) (*Result, error) {
	query, args, err := r.Query(db, f)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	defer rows.Close()
	cols := r.columns(f)
	res := &Result{Columns: cols}
	dest := make([]any, len(cols))
	floats := make([]*float64, len(cols))
	for rows.Next() {
		row := make([]Value, len(cols))
		for i, c := range cols {
			switch c.Kind {
			case Text:
				dest[i] = &row[i].S
			case Date:
				dest[i] = &row[i].T
			case Count:
				dest[i] = &row[i].I
			default:
				dest[i] = &floats[i]
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("report %s: %w", r.Name, err)
		}
		for i, c := range cols {
			switch c.Kind {
			case Text, Date, Count:
			default:
				if floats[i] == nil {
					row[i].Null = true
				} else {
					row[i].F = *floats[i]
				}
			}
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	return res, nil
}

// Shape narrows res for printing: the named columns in that order, or
// "all" for every column, or without names the report's Default view.
func (res *Result) Shape(r *Report, f Filter, names []string) error {
	switch {
	case len(names) == 1 && names[0] == "all":
		return nil
	case len(names) > 0:
		return res.Select(names)
	case r.Default != nil:
		return r.Default(res, f)
	}
	return nil
}

// Select keeps only the named columns, in the order given. An unknown name
// is an error that lists the report's columns.
func (res *Result) Select(names []string) error {
	if len(names) == 0 {
		return nil
	}
	idx := make([]int, len(names))
	for i, n := range names {
		idx[i] = -1
		for j, c := range res.Columns {
			if c.Name == n {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			known := make([]string, len(res.Columns))
			for j, c := range res.Columns {
				known[j] = c.Name
			}
			return fmt.Errorf("columns: no column %q (the report has: %s)", n, strings.Join(known, ", "))
		}
	}
	cols := make([]Column, len(idx))
	for i, j := range idx {
		cols[i] = res.Columns[j]
	}
	for r, row := range res.Rows {
		kept := make([]Value, len(idx))
		for i, j := range idx {
			kept[i] = row[j]
		}
		res.Rows[r] = kept
	}
	res.Columns = cols
	return nil
}
