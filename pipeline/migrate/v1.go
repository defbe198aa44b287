package migrate

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

// Schema version 2 stores attributed_conversions compactly: one row per
// conversion and version, the path and every model's credits in arrays
// (schemas/clickhouse/004_attributed_conversions.sql). Versions 0 and 1
// stored one row per conversion x model x touchpoint x version (the
// layout of testdata/v1/004_attributed_conversions.sql). Migrate converts
// such a table by a rebuild (rebuild.go): while it has the v1 layout (a
// column named model) it is set aside as attributed_conversions_v1 (renamed
// on one server; on a cluster copied under replicated and Distributed
// tables of that name, then dropped: cluster_rebuild.go), and each
// (conversion_id, version) of it is copied as one compact row, grouped
// from its v1 rows in the order of the compact layout (position-major, the
// models within a position); a higher version written since by the stream
// supersedes the copied one, as it did in v1. attributed_conversions_v1 is
// kept; an operator compares it with the view credited_conversions, then
// drops it (DROP TABLE <db>.attributed_conversions_v1; on a cluster also
// <db>.attributed_conversions_v1_local, both ON CLUSTER; README.md).
// Stop every attributor of the earlier release before migrating: one still
// running would insert v1 rows, which the compact table refuses.
const (
	creditedTable = "attributed_conversions"
	v1Table       = "attributed_conversions_v1"
)

// hasColumn reports whether database.table has a column named name (false
// when the table does not exist).
func hasColumn(ctx context.Context, conn driver.Conn, database, table, name string) (bool, error) {
	var n uint64
	if err := readRacing(ctx, func() error {
		return conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?", database, table, name).Scan(&n)
	}); err != nil {
		return false, fmt.Errorf("migrate: check %s.%s: %w", table, name, err)
	}
	return n > 0, nil
}

// v1Rebuild is the conversion of the row-per-credit layout (see above).
var v1Rebuild = rebuild{
	aside:  v1Table,
	layout: "schema version 1 (a row per conversion x model x touchpoint)",
	isOld: func(ctx context.Context, conn driver.Conn, db, table string) (bool, error) {
		return hasColumn(ctx, conn, db, table, "model")
	},
	prepare: addV1FitID,
	copySQL: copyV1SQL,
}

// addV1FitID adds fit_id to a v1 table of schema version 0, which lacked
// it (on a cluster to the replicated table first, then the Distributed one
// that reads it).
func addV1FitID(ctx context.Context, conn driver.Conn, database, cluster string) error {
	tables := []string{v1Table}
	if cluster != "" {
		tables = []string{localTable(v1Table), v1Table}
	}
	for _, t := range tables {
		if err := addColumn(ctx, conn, database, cluster, schemas.AddedColumn{Table: t, Column: "fit_id", Type: "String DEFAULT ''"}); err != nil {
			return err
		}
	}
	return nil
}

// copyV1SQL groups the v1 rows of month (YYYYMM) into compact rows, one per
// (conversion_id, version) that the compact table lacks. 18.16 has no
// groupArray ... ORDER BY, and groupArray's order is not defined when
// several threads aggregate, so each group's rows are collected as tuples
// and sorted by (position, model): the credits come out position-major, as
// the stream writes them (models in name order here, in the run's order
// there: the view does not depend on it). The models and their fit ids are
// those of the first position's rows, the path that of the rows of the
// model sorting first (every model has a row per touchpoint), the
// conversion's value the sum of that model's revenue. FINAL reads each v1
// row once. done is the table the NOT IN subquery reads for the pairs
// already copied (subqueryTable).
func copyV1SQL(db, done string, month uint32) string {
	m := fmt.Sprint(month)
	return `INSERT INTO ` + db + `.attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length,
    touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros)
SELECT
    conversion_id,
    m_conversion_type,
    m_user_key,
    m_currency,
    m_conversion_ts_ms,
    m_conversion_date,
    m_version,
    toInt64(arraySum(arrayMap(r -> r.11, m_first_model))),
    m_path_length,
    arrayMap(r -> r.3, m_path),
    arrayMap(r -> r.4, m_path),
    arrayMap(r -> r.5, m_path),
    arrayMap(r -> r.6, m_path),
    arrayMap(r -> r.7, m_path),
    arrayMap(r -> r.8, m_path),
    arrayMap(r -> r.9, m_path),
    arrayMap(r -> r.2, m_first_position),
    arrayMap(r -> r.12, m_first_position),
    arrayMap(r -> r.10, m_rows),
    arrayMap(r -> r.11, m_rows)
FROM
(
    SELECT
        conversion_id,
        m_conversion_type,
        m_user_key,
        m_currency,
        m_conversion_ts_ms,
        m_conversion_date,
        m_version,
        m_path_length,
        m_rows,
        arrayFilter(r -> r.2 = m_rows[1].2, m_rows) AS m_first_model,
        arrayFilter(r -> r.2 = m_rows[1].2 AND r.1 > 0, m_rows) AS m_path,
        arrayFilter(r -> r.1 = m_rows[1].1, m_rows) AS m_first_position
    FROM
    (
        SELECT
            conversion_id,
            version AS m_version,
            any(conversion_type) AS m_conversion_type,
            any(user_key) AS m_user_key,
            any(currency) AS m_currency,
            any(conversion_ts_ms) AS m_conversion_ts_ms,
            any(conversion_date) AS m_conversion_date,
            toUInt32(max(path_length)) AS m_path_length,
            arraySort(groupArray((position, model, touchpoint_id, channel, source, medium, campaign, interaction,
                touchpoint_ts_ms, credit, revenue_micros, fit_id))) AS m_rows
        FROM ` + db + `.attributed_conversions_v1 FINAL
        WHERE toYYYYMM(conversion_date) = ` + m + `
            AND (conversion_id, version) NOT IN
            (
                SELECT conversion_id, version
                FROM ` + db + `.` + done + `
                WHERE toYYYYMM(conversion_date) = ` + m + `
            )
        GROUP BY conversion_id, version
    )
)`
}
