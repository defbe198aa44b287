package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/schemas"
)

// The tests of this file run on a ClickHouse cluster only
// (pipelinetest.EnvCluster; README, "Operating on clusters"):
//
//	scripts/cluster.sh up zookeeper ch1 ch2 ch3 ch4
//	ATTRIBUTOR_TEST_CLUSTER=attributor_cluster@127.0.0.1:19001,127.0.0.1:19002,127.0.0.1:19003,127.0.0.1:19004 \
//	    go test -count=1 -run Cluster ./pipeline/ ./pipeline/migrate/ ./pipeline/rollup/ ./pipeline/sink/

// v1Cluster makes db on cluster c as the release of schema version 1 made
// it with --cluster (the v1 DDL through the cluster rewrite: replicated
// tables under Distributed ones), records version 1 and fills the v1
// credited table through its Distributed table.
func v1Cluster(t *testing.T, c *pipelinetest.Cluster, db string) {
	t.Helper()
	stmts, err := migrate.ClusterDDL(v1Statements(t, db, true), c.Name)
	if err != nil {
		t.Fatalf("the v1 DDL for a cluster: %v", err)
	}
	for _, s := range stmts {
		if err := c.Conns[0].Exec(t.Context(), s.SQL); err != nil {
			t.Fatalf("%s: %v\n%s", s.File, err, s.SQL)
		}
	}
	for _, q := range []string{
		"CREATE TABLE " + db + ".schema_versions ON CLUSTER " + c.Name + " (version UInt32, written_by String, applied_at DateTime DEFAULT now()) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/" + db + "/schema_versions', '{replica}') ORDER BY version",
		"INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 1, 'attributor v1'",
	} {
		if err := c.Conns[0].Exec(t.Context(), q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	fillV1(t, c.Conns[0], db, true)
}

func clusterCount(t *testing.T, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	return n
}

// A v1 database on a cluster (a row per conversion x model x touchpoint,
// replicated and sharded by conversion) is converted by MigrateCluster
// without losing a row: every analyst view, read through any node, shows
// the rows it showed before; every stored (conversion, version) is one
// compact row; the v1 rows are kept in attributed_conversions_v1 (and its
// _local tables) and the old replicated table is gone, its ZooKeeper path
// taken by the compact table. Migrations stopped at any point (their
// context cancelled after 0.3 to 12 s) leave a database that the next
// migration completes, and a migration run again changes nothing.
func TestClusterMigrateConvertsV1Database(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	db := c.Database
	conn := c.Conns[0]
	v1Cluster(t, c, db)
	before := snapshot(t, conn, db, nil)
	v1Pairs := clusterCount(t, conn, "SELECT uniqExact(conversion_id, version) FROM "+db+".attributed_conversions")
	v1Rows := clusterCount(t, conn, "SELECT count() FROM "+db+".attributed_conversions FINAL")

	for _, after := range []time.Duration{300 * time.Millisecond, 700 * time.Millisecond, time.Second, 3 * time.Second, 6 * time.Second, 12 * time.Second} {
		stopped, stop := context.WithTimeout(ctx, after)
		err := migrate.MigrateCluster(stopped, conn, db, c.Name)
		stop()
		t.Logf("migration stopped after %s: %v", after, err)
	}
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for i, n := range c.Conns {
		sameViews(t, fmt.Sprintf("after the migration, read through %s", c.Nodes[i]), snapshot(t, n, db, columnsOf(before)), before)
	}
	rows, pairs := compactCounts(t, conn, db)
	if rows != v1Pairs || pairs != v1Pairs {
		t.Errorf("compact table: %d rows, %d (conversion, version) pairs; want %d of each, one per v1 pair", rows, pairs, v1Pairs)
	}
	if kept := clusterCount(t, conn, "SELECT count() FROM "+db+".attributed_conversions_v1 FINAL"); kept != v1Rows {
		t.Errorf("attributed_conversions_v1 keeps %d rows, want the %d v1 rows", kept, v1Rows)
	}
	if n := clusterCount(t, conn, "SELECT count() FROM system.columns WHERE database = '"+db+"' AND table = 'attributed_conversions_local' AND name = 'model'"); n != 0 {
		t.Error("attributed_conversions_local still has the v1 layout")
	}
	for i, n := range c.Conns {
		// The compact table is replicated at the path cluster.go gives it.
		path := clusterCount(t, n, "SELECT count() FROM system.replicas WHERE database = '"+db+"' AND table = 'attributed_conversions_local' AND zookeeper_path LIKE '%/"+db+"/attributed_conversions_local'")
		if path != 1 {
			t.Errorf("%s: the compact attributed_conversions_local is not replicated under .../%s/attributed_conversions_local", c.Nodes[i], db)
		}
	}

	// Run again: nothing copied twice.
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if r, p := compactCounts(t, conn, db); r != rows || p != pairs {
		t.Errorf("a second migration changed the compact table: %d rows, %d pairs; was %d, %d", r, p, rows, pairs)
	}

	// Interrupted in the conversion: a month of compact rows missing, the
	// version not recorded yet. Run again: completed, nothing twice.
	for _, q := range []string{
		"ALTER TABLE " + db + ".attributed_conversions_local ON CLUSTER " + c.Name + " DROP PARTITION 202611",
		"INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 1, 'attributor v1'",
		"ALTER TABLE " + db + ".schema_versions DELETE WHERE version > 1",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	waitFor(t, "version 1 recorded alone, a month dropped", func() bool {
		r, _ := compactCounts(t, conn, db)
		return clusterCount(t, conn, "SELECT toUInt64(max(version)) FROM "+db+".schema_versions") == 1 && r < rows
	})
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatalf("migrate after an interrupted conversion: %v", err)
	}
	sameViews(t, "after an interrupted conversion and a re-run", snapshot(t, conn, db, columnsOf(before)), before)
	if r, p := compactCounts(t, conn, db); r != rows || p != pairs {
		t.Errorf("after an interrupted conversion and a re-run: %d rows, %d pairs; want %d, %d", r, p, rows, pairs)
	}
}

// A database of schema version 2 on a cluster (compact credits, no daily
// rollups) migrated to version 3 keeps every row and shows every stored
// day in the rolled-up views, read through any node.
func TestClusterMigrateV2Database(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db := c.Database
	conn := c.Conns[0]
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	// As version 2 made it: no rollup or day tables, no views over them,
	// version 2 recorded.
	for _, tb := range []string{"credit_new_days_mv", "touchpoint_new_days_mv", "credit_days", "touchpoint_days", "channel_performance", "model_comparison",
		"credited_daily", "channel_credits_daily", "reach_daily", "credited_live", "rollup_valid_days",
		"rollup_marks", "rollup_runs", "credit_rollup", "channel_rollup", "reach_rollup"} {
		exec("DROP TABLE " + db + "." + tb + " ON CLUSTER " + c.Name)
	}
	exec("INSERT INTO " + db + ".attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros) " +
		"SELECT concat('c', toString(number)), 'purchase', concat('u', toString(number % 97)), 'EUR', 1788000000000 + number * 3600000, toDate(toDateTime(intDiv(1788000000000 + number * 3600000, 1000))), 3, 100000000, 2, ['t1', 't2'], ['email', 'paid_search'], ['news', 'google'], ['email', 'cpc'], ['', 'brand'], ['click', 'click'], [1787990000000, 1787995000000], ['last_click', 'linear'], ['', ''], [0, 0.5, 1, 0.5], [0, 50000000, 100000000, 50000000] " +
		"FROM system.numbers LIMIT 500")
	exec("INSERT INTO " + db + ".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel, campaign, cost) " +
		"SELECT concat('t', toString(number)), concat('u', toString(number % 97)), 1787990000000 + number * 3600000, toDate(toDateTime(intDiv(1787990000000 + number * 3600000, 1000))), 'click', 'email', '', 0.25 FROM system.numbers LIMIT 300")
	exec("ALTER TABLE " + db + ".schema_versions DELETE WHERE version > 2")
	exec("INSERT INTO " + db + ".schema_versions (version, written_by) SELECT 2, 'attributor v2'")
	waitFor(t, "version 2 recorded alone", func() bool {
		return clusterCount(t, conn, "SELECT toUInt64(max(version)) FROM "+db+".schema_versions") == 2
	})
	wantDays := clusterCount(t, conn, "SELECT uniqExact(conversion_date) FROM "+db+".attributed_conversions")
	wantTpDays := clusterCount(t, conn, "SELECT uniqExact(event_date) FROM "+db+".touchpoints")

	for round := range 2 {
		if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
			t.Fatalf("migration %d: %v", round+1, err)
		}
		for i, n := range c.Conns {
			days := clusterCount(t, n, "SELECT uniqExact(date) FROM "+db+".credit_days")
			tpDays := clusterCount(t, n, "SELECT uniqExact(date) FROM "+db+".touchpoint_days")
			micros := clusterCount(t, n, "SELECT toUInt64(sum(revenue_micros)) FROM "+db+".credited_daily WHERE model = 'linear'")
			clicks := clusterCount(t, n, "SELECT toUInt64(sum(clicks)) FROM "+db+".reach_daily")
			conversions := clusterCount(t, n, "SELECT uniqExact(conversion_id) FROM "+db+".credited_conversions")
			if days != wantDays || tpDays != wantTpDays || micros != 500*100_000_000 || clicks != 300 || conversions != 500 {
				t.Errorf("after migration %d, through %s: %d credit days, %d touchpoint days, linear revenue %d micros, %d clicks, %d conversions; want %d, %d, %d, 300, 500",
					round+1, c.Nodes[i], days, tpDays, micros, clicks, conversions, wantDays, wantTpDays, 500*100_000_000)
			}
		}
	}
}

// waitFor polls cond for up to a minute (replication and mutations on a
// cluster are asynchronous).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A database migrated on a cluster before the rollups ran on clusters has
// its rollup tables replicated per shard. The next migration makes them on
// every node (they hold derived data only), with the views over them, and
// a rollup then runs: the rolled-up views equal the unfolded rows through
// every node.
func TestClusterMigrateMovesShardRollups(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db := c.Database
	conn := c.Conns[0]
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatal(err)
	}
	stmts, err := schemas.DDL(db)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := migrate.ClusterDDL(stmts, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	rollupTables := []string{"rollup_marks", "rollup_runs", "credit_rollup", "channel_rollup", "reach_rollup"}
	for _, tb := range rollupTables {
		if err := conn.Exec(ctx, "DROP TABLE "+db+"."+tb+" ON CLUSTER "+c.Name); err != nil {
			t.Fatal(err)
		}
		for _, s := range cl {
			if strings.HasPrefix(s.SQL, "CREATE TABLE IF NOT EXISTS "+db+"."+tb+" ") {
				old := strings.Replace(s.SQL, "/clickhouse/tables/all/", "/clickhouse/tables/{shard}/", 1)
				if err := conn.Exec(ctx, old); err != nil {
					t.Fatalf("%v\n%s", err, old)
				}
			}
		}
	}
	if err := conn.Exec(ctx, "INSERT INTO "+db+".attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros) "+
		"SELECT concat('c', toString(number)), 'purchase', concat('u', toString(number % 97)), 'EUR', 1788000000000 + number * 3600000, toDate(toDateTime(intDiv(1788000000000 + number * 3600000, 1000))), 3, 100000000, 2, ['t1', 't2'], ['email', 'paid_search'], ['news', 'google'], ['email', 'cpc'], ['', 'brand'], ['click', 'click'], [1787990000000, 1787995000000], ['last_click', 'linear'], ['', ''], [0, 0.5, 1, 0.5], [0, 50000000, 100000000, 50000000] "+
		"FROM system.numbers LIMIT 200"); err != nil {
		t.Fatal(err)
	}
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatalf("migration over per-shard rollup tables: %v", err)
	}
	for i, n := range c.Conns {
		for _, tb := range rollupTables {
			if got := clusterCount(t, n, "SELECT count() FROM system.replicas WHERE database = '"+db+"' AND table = '"+tb+"' AND zookeeper_path = '/clickhouse/tables/all/"+db+"/"+tb+"'"); got != 1 {
				t.Errorf("%s: %s is not replicated to every node", c.Nodes[i], tb)
			}
		}
	}
	res, err := rollup.Run(ctx, conn, rollup.Options{Database: db, Cluster: c.Name, Quiet: -1})
	if err != nil || res.CreditDays == 0 {
		t.Fatalf("rollup after the migration: %+v, %v", res, err)
	}
	for i, n := range c.Conns {
		if err := n.Exec(ctx, "SYSTEM SYNC REPLICA "+db+".rollup_runs"); err != nil {
			t.Fatal(err)
		}
		rolled := clusterCount(t, n, "SELECT toUInt64(sum(revenue_micros)) FROM "+db+".credited_daily WHERE model = 'linear'")
		valid := clusterCount(t, n, "SELECT count() FROM "+db+".rollup_valid_days WHERE kind = 'credits'")
		if rolled != 200*100_000_000 || valid != uint64(res.CreditDays) {
			t.Errorf("through %s: linear revenue %d micros over %d rolled-up days, want %d over %d", c.Nodes[i], rolled, valid, 200*100_000_000, res.CreditDays)
		}
	}
}

// setAsideOnCluster, the first step of any rebuild of a table on a cluster
// (v1.go's, and a later layout's), on the current compact table holding
// several versions of its conversions over two months: the aside keeps
// every stored (conversion_id, version), not only the latest that FINAL
// shows; run again it changes nothing; the old tables are gone from every
// node and their ZooKeeper path is free, so a migration makes the table
// again at the path cluster.go gives it.
func TestClusterSetAsideKeepsEveryVersion(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, conn := c.Database, c.Conns[0]
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO "+db+".attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros) "+
		"SELECT concat('c', toString(intDiv(number, 3))), 'purchase', 'u', 'EUR', 1788000000000 + intDiv(number, 3) * 36000000, toDate(toDateTime(intDiv(1788000000000 + intDiv(number, 3) * 36000000, 1000))), toUInt32(number % 3 + 1), 100, 1, ['t1'], ['email'], [''], [''], [''], ['click'], [1787990000000], ['linear'], [''], [1], [100] "+
		"FROM system.numbers WHERE number % 3 <= intDiv(number, 3) % 3 LIMIT 600"); err != nil {
		t.Fatal(err)
	}
	const pairsSQL = "SELECT uniqExact(conversion_id, version) FROM "
	pairs := clusterCount(t, conn, pairsSQL+db+".attributed_conversions")
	latest := clusterCount(t, conn, "SELECT count() FROM "+db+".attributed_conversions FINAL")
	months := clusterCount(t, conn, "SELECT uniqExact(toYYYYMM(conversion_date)) FROM "+db+".attributed_conversions")
	if pairs <= latest || months < 2 {
		t.Fatalf("%d (conversion, version) pairs, %d latest, %d months: the fill shows no superseded version or one month", pairs, latest, months)
	}
	exists := func(ctx context.Context, conn driver.Conn, database, name string) (bool, error) {
		var n uint8
		err := conn.QueryRow(ctx, "EXISTS TABLE "+database+"."+name).Scan(&n)
		return n == 1, err
	}
	for round := range 2 {
		if err := migrate.SetAsideOnCluster(ctx, conn, db, c.Name, "attributed_conversions", "attributed_conversions_v3", exists); err != nil {
			t.Fatalf("set aside, round %d: %v", round+1, err)
		}
		if got := clusterCount(t, conn, pairsSQL+db+".attributed_conversions_v3"); got != pairs {
			t.Errorf("round %d: the aside holds %d (conversion, version) pairs, want %d", round+1, got, pairs)
		}
		if got := clusterCount(t, conn, "SELECT count() FROM "+db+".attributed_conversions_v3"); got != pairs {
			t.Errorf("round %d: the aside holds %d rows, want %d (each pair once)", round+1, got, pairs)
		}
	}
	for i, n := range c.Conns {
		for _, tb := range []string{"attributed_conversions", "attributed_conversions_local"} {
			if ok, err := exists(ctx, n, db, tb); err != nil || ok {
				t.Errorf("%s: %s still exists (%v)", c.Nodes[i], tb, err)
			}
		}
	}
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatalf("migrate after the set-aside: %v", err)
	}
	for i, n := range c.Conns {
		if got := clusterCount(t, n, "SELECT count() FROM system.replicas WHERE database = '"+db+"' AND table = 'attributed_conversions_local' AND zookeeper_path LIKE '%/"+db+"/attributed_conversions_local'"); got != 1 {
			t.Errorf("%s: attributed_conversions_local not made again at its path", c.Nodes[i])
		}
	}
}
