package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// Kind says how a column is scanned and printed.
type Kind uint8

// Kinds of columns.
const (
	Text   Kind = iota // a string, left-aligned
	Date               // a day, YYYY-MM-DD
	Count              // an integer
	Number             // a fractional count (sum of credit), two decimals
	Money              // an amount in currency units, two decimals
	Ratio              // a fraction, printed as a percentage; may be NULL
	Hours              // a duration in hours, one decimal
)

// numeric reports whether the kind is a number (right-aligned in tables).
func (k Kind) numeric() bool { return k != Text && k != Date }

// Column is one column of a report: its name, its kind and the SQL
// expression over the view that computes it for a group of rows.
type Column struct {
	Name string
	Kind Kind
	expr string
}

// Report is one report of the registry.
type Report struct {
	// Name is the report's name on the command line, and the view it reads.
	Name string
	// Summary is the one-line description `attributor report` lists.
	Summary string
	// Columns are the printed columns, in order.
	Columns []Column
	// HasModel and HasChannel say whether --model and --channel apply.
	HasModel, HasChannel bool
	// Monthly reports filter their date column by month: --from selects
	// the month that holds it.
	Monthly bool
	// DefaultLimit is the row limit when the filter sets none (0: all rows).
	DefaultLimit int

	groupBy string   // the grouping of the view's rows (its dimensions other than date)
	orderBy []string // the order of the printed rows: column names, "-name" for descending
}

// Filter narrows a report. The zero value selects every row.
type Filter struct {
	From, To string // days YYYY-MM-DD, inclusive; "" leaves the side open
	Model    string
	Channel  string
	Limit    int // rows printed at most; 0 means the report's default
}

// Validate checks the filter against the report, naming the flag at fault.
func (f Filter) Validate(r *Report) error {
	var from, to time.Time
	var err error
	if f.From != "" {
		if from, err = schemas.ParseDate(f.From); err != nil {
			return fmt.Errorf("from: %w", err)
		}
	}
	if f.To != "" {
		if to, err = schemas.ParseDate(f.To); err != nil {
			return fmt.Errorf("to: %w", err)
		}
	}
	if f.From != "" && f.To != "" && to.Before(from) {
		return fmt.Errorf("to: %s is before from %s", f.To, f.From)
	}
	if f.Model != "" {
		if !r.HasModel {
			return fmt.Errorf("model: report %s has no model column (it compares the models side by side, or does not depend on them)", r.Name)
		}
		if !slices.Contains(attribution.ModelNames, f.Model) {
			return fmt.Errorf("model: unknown model %q (models: %s)", f.Model, strings.Join(attribution.ModelNames, ", "))
		}
	}
	if f.Channel != "" && !r.HasChannel {
		return fmt.Errorf("channel: report %s has no channel column", r.Name)
	}
	if f.Limit < 0 {
		return fmt.Errorf("limit: must be >= 0, got %d", f.Limit)
	}
	return nil
}

// column returns the index of the column called name; the registry's tests
// make sure that every name it orders by exists.
func (r *Report) column(name string) int {
	for i, c := range r.Columns {
		if c.Name == name {
			return i
		}
	}
	panic("report " + r.Name + ": no column " + name)
}

// Reports returns the registry, sorted by name.
func Reports() []*Report {
	out := make([]*Report, len(registry))
	copy(out, registry)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the report called name.
func Lookup(name string) (*Report, error) {
	for _, r := range registry {
		if r.Name == name {
			return r, nil
		}
	}
	names := make([]string, 0, len(registry))
	for _, r := range Reports() {
		names = append(names, r.Name)
	}
	return nil, fmt.Errorf("unknown report %q (reports: %s)", name, strings.Join(names, ", "))
}

// Query returns the SQL of the report over the views of database db, and
// the arguments bound to its placeholders. The SQL text comes only from the
// registry and db, which must be a valid identifier; the filter's values
// travel as arguments.
func (r *Report) Query(db string, f Filter) (string, []any, error) {
	if err := schemas.ValidIdentifier(db); err != nil {
		return "", nil, fmt.Errorf("database: %w", err)
	}
	if err := f.Validate(r); err != nil {
		return "", nil, err
	}
	var b strings.Builder
	b.WriteString("SELECT\n")
	for i, c := range r.Columns {
		expr := c.expr
		switch c.Kind {
		case Count:
			expr = "toInt64(" + expr + ")"
		case Number, Money, Ratio, Hours:
			expr = "toNullable(toFloat64(" + expr + "))"
		}
		// Positional aliases: an alias equal to a column of the view would
		// shadow it inside the other aggregates.
		fmt.Fprintf(&b, "    %s AS c%d", expr, i)
		if i < len(r.Columns)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "FROM %s.%s\n", db, r.Name)
	var where []string
	var args []any
	if f.From != "" {
		if r.Monthly {
			where = append(where, "date >= toStartOfMonth(toDate(?))")
		} else {
			where = append(where, "date >= toDate(?)")
		}
		args = append(args, f.From)
	}
	if f.To != "" {
		where = append(where, "date <= toDate(?)")
		args = append(args, f.To)
	}
	if f.Model != "" {
		where = append(where, "model = ?")
		args = append(args, f.Model)
	}
	if f.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	if len(where) > 0 {
		b.WriteString("WHERE " + strings.Join(where, " AND ") + "\n")
	}
	b.WriteString("GROUP BY " + r.groupBy + "\n")
	order := make([]string, len(r.orderBy))
	for i, o := range r.orderBy {
		name, dir := o, ""
		if strings.HasPrefix(o, "-") {
			name, dir = o[1:], " DESC"
		}
		order[i] = fmt.Sprintf("c%d%s", r.column(name), dir)
	}
	b.WriteString("ORDER BY " + strings.Join(order, ", "))
	limit := f.Limit
	if limit == 0 {
		limit = r.DefaultLimit
	}
	if limit > 0 {
		b.WriteString("\nLIMIT ?")
		args = append(args, limit)
	}
	return b.String(), args, nil
}
