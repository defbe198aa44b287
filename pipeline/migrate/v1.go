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
// such a table in three idempotent steps, each of which a re-run after an interruption (or a
// concurrent migration) finds done or completes:
//
//  1. set aside: attributed_conversions, while it has the v1 layout (a
//     column named model), becomes attributed_conversions_v1 (renamed on
//     one server; on a cluster copied under replicated and Distributed
//     tables of that name, then dropped: cluster_rebuild.go); the DDL then creates
//     the compact table under the old name;
//  2. copy: while the recorded schema version is below 2, every
//     (conversion_id, version) of attributed_conversions_v1 that the
//     compact table lacks is inserted there as one compact row, grouped
//     from its v1 rows in the order of the compact layout (position-major,
//     the models within a position). The compact table is a
//     ReplacingMergeTree(version): a row copied twice by racing migrations
//     is the same row and collapses; a higher version written since by
//     the stream supersedes the copied one, as it did in v1;
//  3. the version is recorded (Migrate), which ends the copying for good.
//
// attributed_conversions_v1 is kept, not dropped: a conversion must never
// lose its only copy to a bug or an interruption, and its rows can be
// compared with the view credited_conversions before an operator drops it
// (DROP TABLE <db>.attributed_conversions_v1; on a cluster also
// <db>.attributed_conversions_v1_local, both ON CLUSTER; docs/ANALYSTS.md). Stop
// every attributor of the earlier release before migrating: one still
// running would insert v1 rows, which the compact table refuses.
const (
	creditedTable = "attributed_conversions"
	v1Table       = "attributed_conversions_v1"
)

// hasColumn reports whether database.table has a column named name (false
// when the table does not exist).
func hasColumn(ctx context.Context, conn driver.Conn, database, table, name string) (bool, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?", database, table, name).Scan(&n); err != nil {
		return false, fmt.Errorf("migrate: check %s.%s: %w", table, name, err)
	}
	return n > 0, nil
}

// renameV1 is step 1: it moves a v1 attributed_conversions out of the way
// of the compact table (on a cluster by a copy: setAsideOnCluster).
// Another migration may rename it first: then the table is gone or compact
// when we look again, which is success.
func renameV1(ctx context.Context, conn driver.Conn, database, cluster string) error {
	isV1 := func(ctx context.Context, conn driver.Conn, database, name string) (bool, error) {
		return hasColumn(ctx, conn, database, name, "model")
	}
	if cluster != "" {
		return setAsideOnCluster(ctx, conn, database, cluster, creditedTable, v1Table, isV1)
	}
	v1, err := isV1(ctx, conn, database, creditedTable)
	if err != nil || !v1 {
		return err
	}
	if err := conn.Exec(ctx, "RENAME TABLE "+database+"."+creditedTable+" TO "+database+"."+v1Table); err != nil {
		if still, cerr := isV1(ctx, conn, database, creditedTable); cerr == nil && !still {
			return nil // a concurrent migration renamed it
		}
		return fmt.Errorf("migrate: rename the v1 %s: %w", creditedTable, err)
	}
	return nil
}

// copyV1 is step 2 (see above). Databases of schema version 0 may lack
// fit_id; it is added to the v1 table first. On a cluster the copy reads
// and writes the Distributed tables.
func copyV1(ctx context.Context, conn driver.Conn, database, cluster string) error {
	var exists uint8
	if err := conn.QueryRow(ctx, "EXISTS TABLE "+database+"."+v1Table).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: check %s: %w", v1Table, err)
	}
	if exists == 0 {
		return nil
	}
	tables := []string{v1Table}
	if cluster != "" {
		// The replicated table first: the Distributed one reads it.
		tables = []string{localTable(v1Table), v1Table}
	}
	for _, t := range tables {
		if err := addColumn(ctx, conn, database, cluster, schemas.AddedColumn{Table: t, Column: "fit_id", Type: "String DEFAULT ''"}); err != nil {
			return err
		}
	}
	// Month by month (the partitions of both tables): a month's groups
	// are what the server holds in memory at once, and an interrupted
	// copy has lost at most one month's work.
	rows, err := conn.Query(ctx, "SELECT DISTINCT toUInt32(toYYYYMM(conversion_date)) AS m FROM "+database+"."+v1Table+" ORDER BY m")
	if err != nil {
		return fmt.Errorf("migrate: months of %s: %w", v1Table, err)
	}
	var months []uint32
	for rows.Next() {
		var m uint32
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: months of %s: %w", v1Table, err)
		}
		months = append(months, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("migrate: months of %s: %w", v1Table, err)
	}
	for _, m := range months {
		if err := conn.Exec(clusterInsert(ctx, cluster), copyV1SQL(database, subqueryTable(creditedTable, cluster), m)); err != nil {
			return fmt.Errorf("migrate: copy %s (month %d) into the compact %s: %w", v1Table, m, creditedTable, err)
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
