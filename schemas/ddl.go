package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
)

//go:embed clickhouse/*.sql
var ddlFiles embed.FS

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidIdentifier reports whether name may be used as a ClickHouse database
// or table name in our DDL: letters, digits and underscores, not starting
// with a digit, at most 63 bytes. Nothing else ever reaches DDL.
func ValidIdentifier(name string) error {
	if !identRe.MatchString(name) {
		return fmt.Errorf("%q is not a valid identifier (letters, digits, _; not starting with a digit; at most 63 bytes)", name)
	}
	return nil
}

// SchemaVersion numbers the schema that DDL creates. Migrate records it in
// the database's schema_versions table, refuses a database whose recorded
// version is newer, and replaces the views of an older one. Bump it with
// every change to schemas/clickhouse/*.sql or AddedColumns (the test
// TestSchemaVersionCoversDDL fails until it is bumped). Databases made
// before versions were recorded count as version 0. Version 2 stores
// attributed_conversions compactly, one row per conversion and version
// (Migrate converts a table of the earlier layout: see pipeline/migrate);
// version 3 adds the daily rollups; version 4 sorts attributed_conversions
// by (conversion_date, conversion_id) and adds conversion_versions (Migrate
// rebuilds the table); version 5 adds touchpoints_by_day, touchpoints
// sorted by day for the reach side of the aggregate views (Migrate copies
// the stored touchpoints into it); version 6 aggregates the days read live
// in two halves of the conversions, on two cores (011_rollup_views.sql,
// credited_live: views only, nothing to copy); version 7 records a day in
// credit_days and touchpoint_days only when an insert brings a new one
// (008_rollups.sql; Migrate drops the views that wrote every insert's).
const SchemaVersion = 7

// Statement is one DDL statement of a migration file.
type Statement struct {
	File string
	SQL  string
}

// DDL returns the statements of schemas/clickhouse/*.sql in file order, with
// {db} replaced by database, which must be a valid identifier.
func DDL(database string) ([]Statement, error) {
	if err := ValidIdentifier(database); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	names, err := fs.Glob(ddlFiles, "clickhouse/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Statement
	for _, name := range names {
		b, err := ddlFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for _, stmt := range splitStatements(string(b)) {
			out = append(out, Statement{File: name, SQL: strings.ReplaceAll(stmt, "{db}", database)})
		}
	}
	return out, nil
}

// splitStatements splits SQL text on semicolons that end a line, dropping
// comment-only lines. Our DDL files keep one statement per such block.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, s)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// AddedColumn is a column added to a table after its first release.
// CREATE TABLE IF NOT EXISTS does not add it to a table created before, and
// ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, so Migrate checks
// system.columns and adds what is missing.
type AddedColumn struct {
	Table, Column, Type string
}

// AddedColumns lists the columns of schemas/clickhouse/*.sql added after
// their table's first release, oldest first.
var AddedColumns = []AddedColumn{
	{Table: "touchpoints", Column: "too_late", Type: "UInt8 DEFAULT 0"},
}

// Replaces reports whether s drops an object so that the next statement
// creates it anew (a view whose definition may have changed): Migrate runs
// it only when the recorded schema version is older than SchemaVersion.
func (s Statement) Replaces() bool { return strings.HasPrefix(s.SQL, "DROP TABLE IF EXISTS ") }
