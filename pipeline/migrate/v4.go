package migrate

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

// Schema version 4 sorts attributed_conversions by (conversion_date,
// conversion_id) in granules of 1024 rows, and adds conversion_versions
// (schemas/clickhouse/004_attributed_conversions.sql): a day's rows lie
// together, so the views that aggregate a day live read that day, not its
// month, and a conversion is found by id through conversion_versions.
// Versions 2 and 3 sorted the table by conversion_id alone. A sorting key
// cannot be altered, so Migrate rebuilds the table (rebuild.go): it is
// renamed attributed_conversions_v3 while its sorting key is conversion_id,
// and every stored row of it, superseded versions too, is copied into the
// new table unchanged (its inserted_at kept). The copies go through the
// new table's materialized views, which fill conversion_versions and
// credit_days. attributed_conversions_v3 is kept until an operator drops
// it (README.md, after `attributor migrate`).
const v3Table = "attributed_conversions_v3"

var v3Rebuild = rebuild{
	aside:   v3Table,
	layout:  "schema versions 2 and 3 (sorted by conversion_id alone)",
	isOld:   sortedByIDAlone,
	copySQL: copyV3SQL,
}

// sortedByIDAlone reports whether database.table is a compact table of
// schema versions 2 or 3: sorted by conversion_id alone.
func sortedByIDAlone(ctx context.Context, conn driver.Conn, database, table string) (bool, error) {
	var n uint64
	if err := readRacing(ctx, func() error {
		return conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ? AND sorting_key = 'conversion_id'", database, table).Scan(&n)
	}); err != nil {
		return false, fmt.Errorf("migrate: check the sorting key of %s: %w", table, err)
	}
	return n > 0, nil
}

// copyV3SQL copies a month (YYYYMM) of attributed_conversions_v3 into the
// new table, each row whose (conversion_id, version) it lacks, as it is.
// done is the table the NOT IN subquery reads (see rebuild.copySQL).
func copyV3SQL(db, done string, month uint32) string {
	m := fmt.Sprint(month)
	cols := schemas.CompactColumns + ", inserted_at"
	return `INSERT INTO ` + db + `.attributed_conversions (` + cols + `)
SELECT ` + cols + `
FROM ` + db + `.` + v3Table + `
WHERE toYYYYMM(conversion_date) = ` + m + `
    AND (conversion_id, version) NOT IN
    (
        SELECT conversion_id, version
        FROM ` + db + `.` + done + `
        WHERE toYYYYMM(conversion_date) = ` + m + `
    )`
}
