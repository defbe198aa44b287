package schemas

import (
	"fmt"
	"strings"
)

// creditedViewRead is where credited_conversions reads the compact rows;
// CreditedByIDSQL filters there.
const creditedViewRead = "FROM {db}.attributed_conversions FINAL\n"

// CreditedByIDSQL returns the query that reads one conversion's rows of
// credited_conversions (the same columns, the same rows) without reading
// the others: the view's own unfolding (010_credited_conversions.sql)
// over the compact rows of that conversion alone, found by the table's
// sorting key (conversion_date, conversion_id) with the dates that
// conversion_versions holds for the id. Views cannot take arguments on
// ClickHouse 18.16, nor does it push a WHERE on the view into the view's
// FINAL read, so `credited_conversions WHERE conversion_id = ...` unfolds
// every current conversion there; this query reads a few granules
// (docs/ANALYSTS.md, "One conversion by id"). database must be a valid
// identifier; conversionID is quoted as a string literal.
func CreditedByIDSQL(database, conversionID string) (string, error) {
	return creditedByID(database, quoteString(conversionID))
}

// CreditedByIDQuery is CreditedByIDSQL with a placeholder `?` where the id
// goes, twice: bind the conversion's id to both, so that it reaches
// ClickHouse as an argument and never as SQL text.
func CreditedByIDQuery(database string) (string, error) {
	return creditedByID(database, "?")
}

// creditedByID writes the lookup with id, a string literal or a
// placeholder, as the id it filters by.
func creditedByID(database, id string) (string, error) {
	stmts, err := DDL(database)
	if err != nil {
		return "", err
	}
	head := "CREATE VIEW IF NOT EXISTS " + database + ".credited_conversions AS\n"
	read := strings.ReplaceAll(creditedViewRead, "{db}", database)
	for _, s := range stmts {
		body, ok := strings.CutPrefix(s.SQL, head)
		if !ok {
			continue
		}
		if strings.Count(body, read) != 1 {
			return "", fmt.Errorf("credited_conversions: want one %q in its DDL", strings.TrimSpace(read))
		}
		// The filter's indentation follows the FROM line's.
		at := strings.Index(body, read)
		indent := body[strings.LastIndexByte(body[:at], '\n')+1 : at]
		filter := indent + "WHERE conversion_id = " + id + "\n" +
			indent + "    AND conversion_date IN (SELECT conversion_date FROM " + database + ".conversion_versions WHERE conversion_id = " + id + ")\n"
		return strings.Replace(body, read, read+filter, 1), nil
	}
	return "", fmt.Errorf("no credited_conversions view in the DDL")
}

// quoteString returns s as a ClickHouse string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
