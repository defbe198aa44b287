package migrate

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// setAsideOnCluster is, on a cluster, the first step of rebuilding a table
// whose layout changed (its columns, engine or keys; v1.go's conversion,
// and any later one): it moves the old table out of the way of the new
// layout, keeping its rows under the name aside for the copy into the new
// table that follows the DDL (which creates the new table under the old
// name) and for the operator's checks. isOld reports whether
// database.name (here the local or the Distributed table) has the layout
// being replaced, false when it does not exist. On one server that step
// is a RENAME (atomic).
//
// On a cluster the old <table>_local is a Replicated table whose ZooKeeper
// path (/clickhouse/tables/{shard}/<db>/<table>_local) a RENAME keeps, so
// the new layout could not be created under the old name at the path
// cluster.go gives it. The rows are copied instead, through the
// Distributed tables, into <aside>_local (the old table's columns, engine
// and keys, at its own path) under a Distributed <aside> with the old
// table's sharding key, one partition at a time and only the rows the
// aside lacks (a row: its sorting key and, in a ReplacingMergeTree(version),
// its version, so that every stored version is kept), so that a re-run or a
// concurrent run completes the copy and never doubles it. Once every
// partition of the aside holds as many distinct rows as the old table's,
// the old tables are dropped ON CLUSTER (which frees the ZooKeeper path). An interrupted step is completed by the next
// run: the old local table is only dropped after the copy is checked, and
// an old Distributed table left without its local one is dropped too. The
// copy into the new table then reads and writes the Distributed tables
// (clusterInsert, subqueryTable).
//
// Convert a cluster with one migration (`attributor migrate --cluster`)
// before starting instances: concurrent ones copy the same rows harmlessly,
// but one that looked at the old table just before another dropped it and
// made the new one could drop the new one (18.16 has no conditional DDL);
// the layout is looked at again right before each drop, which leaves a
// window of one DDL round trip.
func setAsideOnCluster(ctx context.Context, conn driver.Conn, database, cluster, table, aside string,
	isOld func(ctx context.Context, conn driver.Conn, database, name string) (bool, error)) error {
	on := " ON CLUSTER " + cluster
	local := localTable(table)
	old, err := isOld(ctx, conn, database, local)
	if err != nil {
		return err
	}
	if old {
		if err := copyAsideOnCluster(ctx, conn, database, cluster, table, aside); err != nil {
			return err
		}
		// Looked at again right before the drop: a concurrent migration
		// may have dropped the old table and made the new one meanwhile.
		if old, err = isOld(ctx, conn, database, local); err != nil {
			return err
		}
		if old {
			if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+database+"."+local+on); err != nil {
				return fmt.Errorf("migrate: drop the old %s after copying it to %s: %w", local, localTable(aside), err)
			}
		}
	}
	// The Distributed table last: it is what the copy reads.
	old, err = isOld(ctx, conn, database, table)
	if err != nil || !old {
		return err
	}
	if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+database+"."+table+on); err != nil {
		return fmt.Errorf("migrate: drop the old Distributed %s: %w", table, err)
	}
	return nil
}

// copyAsideOnCluster creates <aside>_local like the old <table>_local and
// the Distributed <aside> over it, then copies, partition by partition, the
// rows that the aside lacks, and checks that each partition holds as many
// distinct rows as the old table's.
func copyAsideOnCluster(ctx context.Context, conn driver.Conn, database, cluster, table, aside string) error {
	local, asideLocal := localTable(table), localTable(aside)
	shardingKey, ok := shardingKeys[table]
	if !ok {
		return fmt.Errorf("migrate: %s has no sharding key (pipeline/migrate/cluster.go)", table)
	}
	var create, engine, partition, sorting string
	if err := readRacing(ctx, func() error {
		return conn.QueryRow(ctx, "SELECT create_table_query, engine_full, partition_key, sorting_key FROM system.tables WHERE database = ? AND name = ?", database, local).
			Scan(&create, &engine, &partition, &sorting)
	}); err != nil {
		return fmt.Errorf("migrate: read the definition of %s: %w", local, err)
	}
	// A row is its sorting key and, in a ReplacingMergeTree(version), its
	// version: every stored version is copied (FINAL would keep only the
	// latest), each once.
	key := sorting
	if m := versionRe.FindStringSubmatch(engine); m != nil && m[1] != "" && !slices.Contains(strings.Split(sorting, ", "), m[1]) {
		key += ", " + m[1]
	}
	on := " ON CLUSTER " + cluster
	prefix := "CREATE TABLE " + database + "." + local + " "
	oldPath := "'/clickhouse/tables/{shard}/" + database + "/" + local + "'"
	if !strings.HasPrefix(create, prefix) || !strings.Contains(create, oldPath) {
		return fmt.Errorf("migrate: %s.%s is not a table that migrate --cluster made (replicated under %s): %.200s", database, local, oldPath, create)
	}
	create = "CREATE TABLE IF NOT EXISTS " + database + "." + asideLocal + on + " " + strings.TrimPrefix(create, prefix)
	create = strings.Replace(create, oldPath, "'/clickhouse/tables/{shard}/"+database+"/"+asideLocal+"'", 1)
	for _, q := range []string{
		create,
		"CREATE TABLE IF NOT EXISTS " + database + "." + aside + on + " AS " + database + "." + asideLocal +
			" ENGINE = Distributed(" + cluster + ", " + database + ", " + asideLocal + ", " + shardingKey + ")",
	} {
		if err := execRacing(ctx, conn, q); err != nil {
			return fmt.Errorf("migrate: create %s beside the old %s: %w", aside, table, err)
		}
	}
	if partition == "" {
		partition = "0"
	}
	parts, err := queryStrings(ctx, conn, "SELECT DISTINCT toString("+partition+") AS p FROM "+database+"."+table+" ORDER BY p")
	if err != nil {
		return fmt.Errorf("migrate: partitions of %s: %w", table, err)
	}
	// Counted per shard (a row's key is on one shard of either table) and
	// summed here: each shard holds only its own keys in memory.
	perShard := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"distributed_group_by_no_merge": 1}))
	count := func(table, where string) (uint64, error) {
		rows, err := conn.Query(perShard, "SELECT uniqExact("+key+") FROM "+database+"."+table+" WHERE "+where)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var sum uint64
		for rows.Next() {
			var n uint64
			if err := rows.Scan(&n); err != nil {
				return 0, err
			}
			sum += n
		}
		return sum, rows.Err()
	}
	ins := clusterInsert(ctx, cluster)
	for _, p := range parts {
		where := "toString(" + partition + ") = '" + strings.ReplaceAll(p, "'", "\\'") + "'"
		want, err := count(table, where)
		if err != nil {
			return fmt.Errorf("migrate: count %s (partition %s): %w", table, p, err)
		}
		if got, err := count(aside, where); err != nil || got == want {
			if err != nil {
				return fmt.Errorf("migrate: count %s (partition %s): %w", aside, p, err)
			}
			continue
		}
		// The sharding keys are the same, so each shard's local aside
		// holds the keys of the old rows that shard has: the NOT IN reads
		// it, not the Distributed table (which 18.16 refuses there).
		if err := conn.Exec(ins, "INSERT INTO "+database+"."+aside+" SELECT * FROM "+database+"."+table+" WHERE "+where+
			" AND ("+key+") NOT IN (SELECT "+key+" FROM "+database+"."+asideLocal+" WHERE "+where+")"); err != nil {
			return fmt.Errorf("migrate: copy %s (partition %s) to %s: %w", table, p, aside, err)
		}
		// A replica that did not fetch the copied part yet may answer
		// the count: wait for replication before calling the copy short.
		got, err := count(aside, where)
		for deadline := time.Now().Add(time.Minute); err == nil && got < want && time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			got, err = count(aside, where)
		}
		if err != nil {
			return fmt.Errorf("migrate: count %s (partition %s): %w", aside, p, err)
		}
		if got != want {
			return fmt.Errorf("migrate: %s (partition %s) holds %d distinct rows after the copy, %s %d: is an attributor of the earlier release still writing? Stop it and migrate again", aside, p, got, table, want)
		}
	}
	return nil
}

// versionRe finds the version column of a ReplicatedReplacingMergeTree in
// system.tables' engine_full.
var versionRe = regexp.MustCompile(`^ReplicatedReplacingMergeTree\('[^']*', '[^']*'(?:, (\w+))?\)`)

// clusterInsert returns ctx with the settings of an INSERT into a
// Distributed table during a migration: synchronous, so that the rows are
// on every shard when it returns (and a count right after sees them),
// whatever the connection's own settings.
func clusterInsert(ctx context.Context, cluster string) context.Context {
	if cluster == "" {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
}

// subqueryTable names the table that an IN subquery of a conversion reads
// to find the rows already copied into table: the table itself on one
// server; on a cluster the shard's local table (the rows of a sharding key
// are on the shard that runs the subquery, and 18.16 refuses a Distributed
// table inside a distributed query).
func subqueryTable(table, cluster string) string {
	if cluster == "" {
		return table
	}
	return localTable(table)
}

func queryStrings(ctx context.Context, conn driver.Conn, q string) ([]string, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
