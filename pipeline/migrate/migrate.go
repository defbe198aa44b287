package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

// ClickHouse error codes that a concurrent migration causes: another
// instance created the object between our check and our create, or is
// dropping (or just dropped) a view that the one we create reads, to
// create it again.
const (
	chDuplicateColumn       = 15
	chColumnAlreadyExists   = 44
	chTableAlreadyExists    = 57
	chUnknownTable          = 60
	chDatabaseAlreadyExists = 82
	chTableIsDropped        = 218
)

// migrateRaceTimeout bounds how long a statement is retried while other
// instances migrate the same database.
const migrateRaceTimeout = 30 * time.Second

// Migrate brings database to schemas.SchemaVersion, safely while any number
// of other instances (run or migrate) do the same at once: ClickHouse 18.16
// has no transactions and no locks, so every step is idempotent and every
// race it can lose is retried.
//
//   - The database, the tables and the schema_versions table are created
//     IF NOT EXISTS; columns added since a table's first release are added
//     when system.columns lacks them (an instance that loses that race
//     finds the column there).
//   - The recorded version (the highest in schema_versions; 0 when none) is
//     read. Newer than this binary's: an error naming both, and nothing is
//     touched. The same: views are created IF NOT EXISTS only, never
//     dropped, so that instances starting together never remove a view
//     another one is building on. Older: views are dropped and created
//     again with this binary's definitions, an attributed_conversions of
//     an earlier layout (versions 0 and 1: v1.go; 2 and 3: v4.go) is
//     rebuilt in the current one (rebuild.go), the tables that derived
//     tables' materialized views fill from their insert on get the rows
//     stored before (v3.go, v5.go), the materialized views that wrote
//     every insert's days are dropped once their successors exist
//     (v7.go), then the version is recorded.
//   - A statement that fails because a concurrent migration created its
//     object first (already exists) or had just dropped a view it reads
//     (doesn't exist: that instance creates it again next) is retried with
//     backoff, for up to 30 s.
func Migrate(ctx context.Context, conn driver.Conn, database string) error {
	return MigrateCluster(ctx, conn, database, "")
}

// MigrateCluster is Migrate on the ClickHouse cluster named cluster (as in
// the servers' remote_servers): replicated tables ON CLUSTER with
// Distributed tables over them (see cluster.go). An empty cluster is a
// single server, as Migrate. Every node of the cluster must be up: ON
// CLUSTER statements wait for each node's answer.
func MigrateCluster(ctx context.Context, conn driver.Conn, database, cluster string) error {
	stmts, err := schemas.DDL(database)
	if err != nil {
		return err
	}
	if cluster != "" {
		if stmts, err = clusterDDL(stmts, cluster); err != nil {
			return err
		}
	}
	versions := database + ".schema_versions"
	// The database first: schema_versions lives in it.
	if err := execRacing(ctx, conn, stmts[0].SQL); err != nil {
		return fmt.Errorf("migrate %s: %w", stmts[0].File, err)
	}
	if err := execRacing(ctx, conn, versionsTableDDL(database, cluster)); err != nil {
		return fmt.Errorf("migrate: create schema_versions: %w", err)
	}
	found, by, err := recordedVersion(ctx, conn, versions)
	if err != nil {
		return err
	}
	if found > schemas.SchemaVersion {
		return fmt.Errorf("database %s has schema version %d (written by %s), newer than this attributor's %d (%s): run the newer attributor, or point this one at another --database",
			database, found, by, schemas.SchemaVersion, binaryVersion())
	}
	replace := found < schemas.SchemaVersion
	if cluster != "" {
		// Rollup tables of the first cluster layout (per shard) make way
		// for those on every node, and the views are made again.
		moved, err := dropShardRollups(ctx, conn, database, cluster)
		if err != nil {
			return err
		}
		replace = replace || moved
	}
	if replace {
		// A credited table of an earlier layout makes way for the
		// current one (rebuild.go), and the materialized views over it
		// are created again over the new table.
		for _, rb := range rebuilds {
			if err := renameAside(ctx, conn, database, cluster, rb); err != nil {
				return err
			}
		}
		if err := rebindViews(ctx, conn, database, cluster); err != nil {
			return err
		}
	}
	for _, s := range stmts[1:] {
		if s.Replaces() && !replace {
			continue
		}
		if err := execRacing(ctx, conn, s.SQL); err != nil {
			return fmt.Errorf("migrate %s: %w", s.File, err)
		}
	}
	for _, c := range schemas.AddedColumns {
		tables := []string{c.Table}
		if cluster != "" {
			// The replicated table first: the Distributed one reads it.
			tables = []string{localTable(c.Table), c.Table}
		}
		for _, t := range tables {
			if err := addColumn(ctx, conn, database, cluster, schemas.AddedColumn{Table: t, Column: c.Column, Type: c.Type}); err != nil {
				return err
			}
		}
	}
	if replace {
		if err := dropEveryInsertDayViews(ctx, conn, database, cluster); err != nil {
			return err
		}
		for _, rb := range rebuilds {
			if err := copyAside(ctx, conn, database, cluster, rb); err != nil {
				return err
			}
		}
		if err := backfillDays(ctx, conn, database, cluster); err != nil {
			return err
		}
		// From version 5 on the materialized view has filled
		// touchpoints_by_day since the copy: copying every stored
		// touchpoint again (a later version's migration) would only
		// double the table until merged (27M rows, 18 s at 10M).
		if found < 5 {
			if err := backfillTouchpointsByDay(ctx, conn, database, cluster); err != nil {
				return err
			}
		}
		if err := recordVersion(ctx, conn, versions); err != nil {
			return fmt.Errorf("migrate: record schema version: %w", err)
		}
	}
	return nil
}

// recordedVersion returns the highest schema version recorded and the
// binary that recorded it; 0 and "" when none is.
func recordedVersion(ctx context.Context, conn driver.Conn, table string) (uint32, string, error) {
	var v uint32
	var by string
	err := conn.QueryRow(ctx, "SELECT version, written_by FROM "+table+" ORDER BY version DESC, applied_at DESC LIMIT 1").Scan(&v, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("migrate: read schema version: %w", err)
	}
	return v, by, nil
}

func recordVersion(ctx context.Context, conn driver.Conn, table string) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (version, written_by)")
	if err != nil {
		return err
	}
	if err := b.Append(uint32(schemas.SchemaVersion), binaryVersion()); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}

func addColumn(ctx context.Context, conn driver.Conn, database, cluster string, c schemas.AddedColumn) error {
	has := func() (bool, error) {
		var n uint64
		if err := readRacing(ctx, func() error {
			return conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?", database, c.Table, c.Column).Scan(&n)
		}); err != nil {
			return false, fmt.Errorf("migrate: check %s.%s: %w", c.Table, c.Column, err)
		}
		return n > 0, nil
	}
	if ok, err := has(); err != nil || ok {
		return err
	}
	on := ""
	if cluster != "" {
		on = " ON CLUSTER " + cluster
	}
	if err := conn.Exec(ctx, "ALTER TABLE "+database+"."+c.Table+on+" ADD COLUMN "+c.Column+" "+c.Type); err != nil {
		// Another instance may have added it since we looked.
		if ok, herr := has(); herr == nil && ok {
			return nil
		}
		return fmt.Errorf("migrate: add %s.%s: %w", c.Table, c.Column, err)
	}
	return nil
}

// execRacing runs an idempotent DDL statement, retrying it while it fails
// because of a concurrent migration (see Migrate).
func execRacing(ctx context.Context, conn driver.Conn, sql string) error {
	deadline := time.Now().Add(migrateRaceTimeout)
	backoff := 20 * time.Millisecond
	for {
		err := conn.Exec(ctx, sql)
		if err == nil || !migrationRace(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// readRacing runs read, a query of system.tables or system.columns, again
// while it fails as a concurrent migration makes it fail: 18.16 reads
// every table of the database to answer, and fails with "table doesn't
// exist" when another instance drops one of them meanwhile, whichever
// table the query asked about.
func readRacing(ctx context.Context, read func() error) error {
	deadline := time.Now().Add(migrateRaceTimeout)
	for {
		err := read()
		if err == nil || !migrationRace(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// migrationRace reports whether err is what a concurrent migration causes.
func migrationRace(err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	switch ex.Code {
	case chTableAlreadyExists, chUnknownTable, chDatabaseAlreadyExists, chDuplicateColumn, chColumnAlreadyExists, chTableIsDropped:
		return true
	}
	return false
}

// binaryVersion names this build for schema_versions and error messages:
// the module version and VCS revision when the build recorded them.
func binaryVersion() string {
	v := "attributor"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v += " " + bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
