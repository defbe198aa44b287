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
	Text    Kind = iota // a string, left-aligned
	Date                // a day, YYYY-MM-DD
	Count               // an integer
	Number              // a fractional count (sum of credit), two decimals
	Money               // an amount in currency units, two decimals
	Ratio               // a quotient (assists per close, revenue per unit of spend), printed as it is, two decimals; may be NULL
	Hours               // a duration in hours, one decimal
	Percent             // a fraction of a whole (CTR, conversion rate), printed as a percentage; may be NULL
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
	// Name is the report's name on the command line, and the view it reads
	// unless View names another.
	Name string
	View string
	// Summary is the one-line description `attributor report` lists.
	Summary string
	// Columns are the printed columns, in order.
	Columns []Column
	// HasModel and HasChannel say whether --model and --channel apply.
	HasModel, HasChannel bool
	// Monthly reports filter their date column by month: --from selects
	// the month that holds it.
	Monthly bool
	// ByID reports read one conversion, the one Filter.ID names, through
	// schemas.CreditedByIDSQL (a few granules on every release) instead
	// of a view; --from and --to do not apply.
	ByID bool
	// DefaultLimit is the row limit when the filter sets none (0: all rows).
	DefaultLimit int
	// DefaultModel is the model of a report with a model column when the
	// filter names none; "all" in the filter shows every model.
	DefaultModel string
	// By lists what --by may group the rows by, the default first; each
	// choice keeps its key column and leaves out the keys of the choices
	// after it (channel_performance: channel, or channel and campaign).
	By []string
	// Default is the narrow view printed without --columns: it picks and
	// may rename the columns of a result so that a table fits a terminal of
	// 100 columns. nil prints every column.
	Default func(res *Result, f Filter) error

	groupBy []string // the grouping of the view's rows (its dimensions other than date)
	orderBy []string // the order of the printed rows: column names, "-name" for descending
}

// AllModels in Filter.Model shows every model of a report with a model
// column.
const AllModels = "all"

// Filter narrows a report. The zero value selects every row.
type Filter struct {
	From, To string // days YYYY-MM-DD, inclusive; "" leaves the side open
	Model    string // "": the report's DefaultModel; AllModels: every model
	Channel  string
	By       string // a choice of the report's By; "": the first
	Limit    int    // rows printed at most; 0 means the report's default
	ID       string // the conversion a ByID report reads
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
		known := append(slices.Clone(attribution.ModelNames), attribution.DataDrivenModelNames...)
		if f.Model != AllModels && !slices.Contains(known, f.Model) {
			return fmt.Errorf("model: unknown model %q (models: %s, or %s)", f.Model, strings.Join(known, ", "), AllModels)
		}
	}
	if f.By != "" && !slices.Contains(r.By, f.By) {
		if len(r.By) == 0 {
			return fmt.Errorf("by: report %s has one grouping", r.Name)
		}
		return fmt.Errorf("by: report %s groups by %s, got %q", r.Name, strings.Join(r.By, " or "), f.By)
	}
	if f.Channel != "" && !r.HasChannel {
		return fmt.Errorf("channel: report %s has no channel column", r.Name)
	}
	if f.Limit < 0 {
		return fmt.Errorf("limit: must be >= 0, got %d", f.Limit)
	}
	switch {
	case r.ByID && f.ID == "":
		return fmt.Errorf("id: report %s shows one conversion: give its id (--id)", r.Name)
	case r.ByID && (f.From != "" || f.To != ""):
		return fmt.Errorf("from, to: report %s shows one conversion, at every day it is stored under; --from and --to do not apply", r.Name)
	case !r.ByID && f.ID != "":
		return fmt.Errorf("id: report %s sums many conversions; only a report of one conversion takes --id", r.Name)
	}
	return nil
}

// column returns the index of the column called name in cols, -1 when it is
// not there.
func column(cols []Column, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// dropped returns the key columns that the filter's --by leaves out: those
// of the choices after it.
func (r *Report) dropped(f Filter) map[string]bool {
	out := map[string]bool{}
	if len(r.By) == 0 {
		return out
	}
	i := max(0, slices.Index(r.By, f.By))
	for _, k := range r.By[i+1:] {
		out[k] = true
	}
	return out
}

// columns returns the columns the report computes under filter f.
func (r *Report) columns(f Filter) []Column {
	drop := r.dropped(f)
	var out []Column
	for _, c := range r.Columns {
		if !drop[c.Name] {
			out = append(out, c)
		}
	}
	return out
}

// model returns the model the filter selects: "" for every model.
func (r *Report) model(f Filter) string {
	m := f.Model
	if m == "" {
		m = r.DefaultModel
	}
	if m == AllModels {
		return ""
	}
	return m
}

// view is the view the report reads.
func (r *Report) view() string {
	if r.View != "" {
		return r.View
	}
	return r.Name
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
	cols := r.columns(f)
	drop := r.dropped(f)
	var b strings.Builder
	b.WriteString("SELECT\n")
	for i, c := range cols {
		expr := c.expr
		switch c.Kind {
		case Count:
			expr = "toInt64(" + expr + ")"
		case Number, Money, Ratio, Hours, Percent:
			expr = "toNullable(toFloat64(" + expr + "))"
		}
		// Positional aliases: an alias equal to a column of the view would
		// shadow it inside the other aggregates.
		fmt.Fprintf(&b, "    %s AS c%d", expr, i)
		if i < len(cols)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	var where []string
	var args []any
	if r.ByID {
		// The conversion's own rows of the view, read by the compact
		// table's key (its id bound twice: the days, then the rows).
		one, err := schemas.CreditedByIDQuery(db)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(&b, "FROM\n(\n%s\n)\n", strings.TrimRight(one, "\n"))
		args = append(args, f.ID, f.ID)
	} else {
		fmt.Fprintf(&b, "FROM %s.%s\n", db, r.view())
	}
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
	if m := r.model(f); m != "" {
		where = append(where, "model = ?")
		args = append(args, m)
	}
	if f.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	if len(where) > 0 {
		b.WriteString("WHERE " + strings.Join(where, " AND ") + "\n")
	}
	var group []string
	for _, g := range r.groupBy {
		if !drop[g] {
			group = append(group, g)
		}
	}
	b.WriteString("GROUP BY " + strings.Join(group, ", ") + "\n")
	var order []string
	for _, o := range r.orderBy {
		name, dir := o, ""
		if strings.HasPrefix(o, "-") {
			name, dir = o[1:], " DESC"
		}
		if drop[name] {
			continue
		}
		i := column(cols, name)
		if i < 0 {
			return "", nil, fmt.Errorf("report %s: orders by %s, which it lacks", r.Name, name)
		}
		order = append(order, fmt.Sprintf("c%d%s", i, dir))
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
