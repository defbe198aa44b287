package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A rebuild converts an attributed_conversions of an earlier layout into
// the table of the current DDL, in the steps v1.go describes, each
// idempotent so that a re-run after an interruption (or a concurrent
// migration) finds it done or completes it:
//
//  1. renameAside: while attributed_conversions has the old layout, it is
//     renamed aside (an atomic RENAME); the DDL then creates the table of
//     the current layout under the old name;
//  2. copyAside: while the recorded schema version is older than this
//     binary's, every (conversion_id, version) of the aside table that the
//     new table lacks is inserted there, month by month (the partitions of
//     both tables): a month's rows are what the server holds at once, and
//     an interrupted copy has lost at most a month's work. The new table is
//     a ReplacingMergeTree(version): a row copied twice by racing
//     migrations is the same row and collapses; a higher version written
//     since by the stream supersedes the copied one;
//  3. the version is recorded (Migrate), which ends the copying for good.
//
// The aside table is kept, not dropped: a conversion must never lose its
// only copy to a bug or an interruption (README.md says how to
// compare and drop it). Stop every attributor of the earlier release
// first: one still running would insert into the new table rows that the
// next copy does not see again, which is harmless, or (v1) rows it
// refuses.
type rebuild struct {
	aside  string // the name the old table is renamed to
	layout string // the old layout, for errors
	// isOld reports whether database.table has the old layout (false
	// when the table does not exist).
	isOld func(ctx context.Context, conn driver.Conn, database, table string) (bool, error)
	// prepare, if set, runs on the aside table before the copy.
	prepare func(ctx context.Context, conn driver.Conn, database, cluster string) error
	// copySQL inserts a month (YYYYMM) of the aside table's rows into
	// attributed_conversions, those whose (conversion_id, version) it
	// lacks: its NOT IN subquery reads done (subqueryTable: on a cluster
	// the shard's local table).
	copySQL func(database, done string, month uint32) string
}

// rebuilds are the conversions of attributed_conversions, oldest layout
// first. A database has at most one of the old tables; each is copied
// into the current layout directly (a v1 database gets the layout of
// version 4 from copyV1SQL, not that of version 2 and then 4).
var rebuilds = []rebuild{v1Rebuild, v3Rebuild}

// creditViews are the materialized views that read attributed_conversions.
var creditViews = []string{"credit_new_days_mv", "conversion_versions_mv"}

// renameAside is step 1: it moves an attributed_conversions of rb's
// layout out of the way of the current one. Another migration may rename
// it first: then the table is gone or new when we look again, which is
// success.
func renameAside(ctx context.Context, conn driver.Conn, database, cluster string, rb rebuild) error {
	if cluster != "" {
		// A RENAME would keep the replicated table's ZooKeeper path,
		// which the new table needs: copied aside instead.
		return setAsideOnCluster(ctx, conn, database, cluster, creditedTable, rb.aside, rb.isOld)
	}
	old, err := rb.isOld(ctx, conn, database, creditedTable)
	if err != nil || !old {
		return err
	}
	if err := conn.Exec(ctx, "RENAME TABLE "+database+"."+creditedTable+" TO "+database+"."+rb.aside); err != nil {
		if still, cerr := rb.isOld(ctx, conn, database, creditedTable); cerr == nil && !still {
			return nil // a concurrent migration renamed it
		}
		return fmt.Errorf("migrate: rename the %s of %s: %w", creditedTable, rb.layout, err)
	}
	return nil
}

// rebindViews drops the materialized views over attributed_conversions
// that its inserts do not trigger (so that the DDL creates them again over
// the current table): after a rebuild renamed the table aside, current
// ClickHouse keeps a view bound to the table it was created on (18.16 to
// the name). It runs before the DDL of an upgrade, and only when a table
// was renamed aside: when attributed_conversions does not exist yet every
// such view is dropped, and none is when its inserts trigger them all. A
// new database has nothing aside, so instances creating it at once never
// drop a view another one has just made.
func rebindViews(ctx context.Context, conn driver.Conn, database, cluster string) error {
	aside := false
	for _, rb := range rebuilds {
		var exists uint8
		if err := conn.QueryRow(ctx, "EXISTS TABLE "+database+"."+rb.aside).Scan(&exists); err != nil {
			return fmt.Errorf("migrate: check %s: %w", rb.aside, err)
		}
		aside = aside || exists == 1
	}
	if !aside {
		return nil
	}
	deps, err := viewsOf(ctx, conn, database, creditedTable)
	if err != nil {
		return err
	}
	on := ""
	if cluster != "" {
		on = " ON CLUSTER " + cluster
	}
	for _, v := range creditViews {
		if slices.Contains(deps, v) {
			continue
		}
		if err := execRacing(ctx, conn, "DROP TABLE IF EXISTS "+database+"."+v+on); err != nil {
			return fmt.Errorf("migrate: drop %s to create it again: %w", v, err)
		}
	}
	return nil
}

// viewsOf returns the tables that depend on database.table (its
// materialized views), read again while a concurrent migration makes
// system.tables fail (readRacing).
func viewsOf(ctx context.Context, conn driver.Conn, database, table string) ([]string, error) {
	var deps []string
	err := readRacing(ctx, func() error {
		deps = nil
		err := conn.QueryRow(ctx, "SELECT dependencies_table FROM system.tables WHERE database = ? AND name = ?", database, table).Scan(&deps)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: views of %s: %w", table, err)
	}
	return deps, nil
}

// copyAside is step 2 (see above). On a cluster it reads and writes the
// Distributed tables, each insert synchronous (clusterInsert).
func copyAside(ctx context.Context, conn driver.Conn, database, cluster string, rb rebuild) error {
	var exists uint8
	if err := conn.QueryRow(ctx, "EXISTS TABLE "+database+"."+rb.aside).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: check %s: %w", rb.aside, err)
	}
	if exists == 0 {
		return nil
	}
	if rb.prepare != nil {
		if err := rb.prepare(ctx, conn, database, cluster); err != nil {
			return err
		}
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT toUInt32(toYYYYMM(conversion_date)) AS m FROM "+database+"."+rb.aside+" ORDER BY m")
	if err != nil {
		return fmt.Errorf("migrate: months of %s: %w", rb.aside, err)
	}
	var months []uint32
	for rows.Next() {
		var m uint32
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: months of %s: %w", rb.aside, err)
		}
		months = append(months, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("migrate: months of %s: %w", rb.aside, err)
	}
	for _, m := range months {
		if err := conn.Exec(clusterInsert(ctx, cluster), rb.copySQL(database, subqueryTable(creditedTable, cluster), m)); err != nil {
			return fmt.Errorf("migrate: copy %s (month %d) into %s: %w", rb.aside, m, creditedTable, err)
		}
	}
	return nil
}
