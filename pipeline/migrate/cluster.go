package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

// On a ClickHouse cluster (Migrate with a cluster name) every table of
// schemas/clickhouse/*.sql becomes two:
//
//   - <table>_local, a ReplicatedReplacingMergeTree on every node, created ON
//     CLUSTER, replicated within its shard under
//     /clickhouse/tables/{shard}/<database>/<table>_local (built here: 18.16
//     has no {database} and {table} macros);
//   - <table>, a Distributed table over the _local ones with the name that
//     analysts and the attributor use. Every read (history reloads, views,
//     reports) and every write goes through it.
//
// The sharding keys keep together the rows that ReplacingMergeTree FINAL
// and the latest-version views compare: every version of a conversion's
// compact credited row (conversion_id: the versions replace each other
// within the shard's ReplicatedReplacingMergeTree(version), and FINAL,
// which the Distributed table passes to each shard, reads each
// conversion's latest), every event of a user (user_key, so that a
// history reload by key and FINAL see all of a user's rows on one shard;
// touchpoints_by_day, touchpoints' rows sorted by day, alike, so that its
// materialized view's rows go to the shard of their touchpoints and FINAL
// sees a touchpoint's copies together).
// Views are created ON CLUSTER over the Distributed tables; the IN
// subqueries that pick a conversion's latest version read the shard's own
// _local table, which holds every version of the conversions the shard
// has, so each shard answers for its conversions and no query is
// distributed twice (18.16 denies that by default). links (by device) and
// links_by_user (by user) cannot share a shard; the history load that
// reads one inside a query over the other uses GLOBAL IN
// (pipeline/history.Load).
var shardingKeys = map[string]string{
	"touchpoints":            "cityHash64(user_key)",
	"touchpoints_by_day":     "cityHash64(user_key)",
	"conversions":            "cityHash64(user_key)",
	"attributed_conversions": "cityHash64(conversion_id)",
	"conversion_versions":    "cityHash64(conversion_id)",
	"ad_spend":               "cityHash64(event_id)",
	"identities":             "cityHash64(anonymous_id)",
	"links":                  "cityHash64(anonymous_id)",
	"links_by_user":          "cityHash64(user_id)",
	"model_fits":             "cityHash64(model, params)",
}

// allNodeTables are replicated to every node under one ZooKeeper path (like
// schema_versions), with no Distributed table over them: small tables (a
// few rows per day) that every node must read alike.
//
//   - credit_days and touchpoint_days (the days that hold rows) are filled
//     by materialized views on the Distributed tables: whichever node an
//     insert goes through, every node's views see its days.
//   - The rollup tables (008_rollups.sql): `attributor rollup` aggregates
//     the days through the Distributed tables and writes the results, its
//     runs and the superseded rows' deletion on the node it is connected
//     to; the sink writes its marks there too. Every node holds them all,
//     so the views read the same rollup wherever they run
//     (pipeline/rollup: the rows and runs are written with a quorum of
//     every replica, so a node that sees a run holds its rows).
//
// The views' IN subqueries over the day tables become GLOBAL IN: the days
// to aggregate live (credit_days minus rollup_valid_days, the view over
// the rollup tables: nodeViews) are picked once, on the node the query
// runs on, and sent to the shards, so that the rolled-up days and the live
// ones are decided by one node's rollup tables, never by two replicas that
// replicate at different times.
var (
	allNodeTables = map[string]bool{"credit_days": true, "touchpoint_days": true,
		"rollup_marks": true, "rollup_runs": true, "credit_rollup": true, "channel_rollup": true, "reach_rollup": true}
	nodeViews = map[string]bool{"rollup_valid_days": true}
)

var (
	createTableRe = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\s*\n`)
	engineRe      = regexp.MustCompile(`ENGINE = ReplacingMergeTree\((\w*)\)`)
	createViewRe  = regexp.MustCompile(`^CREATE VIEW IF NOT EXISTS (\w+)\.(\w+) AS`)
	createMVRe    = regexp.MustCompile(`^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+) TO (\w+)\.(\w+) AS`)
	dropRe        = regexp.MustCompile(`^DROP TABLE IF EXISTS (\w+)\.(\w+)$`)
	createDBRe    = regexp.MustCompile(`^CREATE DATABASE IF NOT EXISTS (\w+)$`)
	// The first FROM after "IN (SELECT": the latest-version subqueries.
	inSubqueryRe = regexp.MustCompile(`(?s)(\bIN\s*\(\s*SELECT\b.*?\bFROM\s+)(\w+)\.(\w+)\b`)
)

// replicated rewrites sql, the CREATE TABLE of a ReplacingMergeTree, into
// that of db.table on the cluster (on) replicated under the ZooKeeper path.
// The version column, when the table has one, follows the replication
// arguments: ReplicatedReplacingMergeTree(path, replica, version).
func replicated(sql, db, table, on, path string) string {
	body := createTableRe.ReplaceAllString(sql, "CREATE TABLE IF NOT EXISTS "+db+"."+table+on+"\n")
	ver := engineRe.FindStringSubmatch(body)[1]
	if ver != "" {
		ver = ", " + ver
	}
	return engineRe.ReplaceAllLiteralString(body, "ENGINE = ReplicatedReplacingMergeTree('"+path+"', '{replica}'"+ver+")")
}

// localTable names the replicated table under the Distributed table t.
func localTable(t string) string { return t + "_local" }

// clusterDDL rewrites the single-server statements of schemas.DDL for
// cluster (see above). A statement it does not recognise is an error, so
// a new kind of DDL cannot reach a cluster half-translated.
func clusterDDL(stmts []schemas.Statement, cluster string) ([]schemas.Statement, error) {
	if err := schemas.ValidIdentifier(cluster); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	on := " ON CLUSTER " + cluster
	var out []schemas.Statement
	for _, s := range stmts {
		sql := strings.TrimSpace(s.SQL)
		switch {
		case createDBRe.MatchString(sql):
			out = append(out, schemas.Statement{File: s.File, SQL: sql + on})
		case dropRe.MatchString(sql):
			out = append(out, schemas.Statement{File: s.File, SQL: sql + on})
		case createTableRe.MatchString(sql):
			m := createTableRe.FindStringSubmatch(sql)
			db, table := m[1], m[2]
			if !engineRe.MatchString(sql) {
				return nil, fmt.Errorf("%s: table %s: only ReplacingMergeTree tables can be made replicated", s.File, table)
			}
			if allNodeTables[table] {
				out = append(out, schemas.Statement{File: s.File, SQL: replicated(sql, db, table, on, allNodePath(db, table))})
				continue
			}
			key, ok := shardingKeys[table]
			if !ok {
				return nil, fmt.Errorf("%s: table %s has no sharding key for a cluster (pipeline/migrate/cluster.go)", s.File, table)
			}
			local := localTable(table)
			body := replicated(sql, db, local, on, "/clickhouse/tables/{shard}/"+db+"/"+local)
			out = append(out,
				schemas.Statement{File: s.File, SQL: body},
				schemas.Statement{File: s.File, SQL: "CREATE TABLE IF NOT EXISTS " + db + "." + table + on + " AS " + db + "." + local +
					" ENGINE = Distributed(" + cluster + ", " + db + ", " + local + ", " + key + ")"})
		case createMVRe.MatchString(sql):
			out = append(out, schemas.Statement{File: s.File, SQL: createMVRe.ReplaceAllString(sql, "CREATE MATERIALIZED VIEW IF NOT EXISTS $1.$2"+on+" TO $3.$4 AS")})
		case createViewRe.MatchString(sql):
			body := createViewRe.ReplaceAllString(sql, "CREATE VIEW IF NOT EXISTS $1.$2"+on+" AS")
			var err error
			if body, err = rewriteInSubqueries(body, s.File); err != nil {
				return nil, err
			}
			out = append(out, schemas.Statement{File: s.File, SQL: body})
		default:
			return nil, fmt.Errorf("%s: statement not translatable for a cluster: %.60s", s.File, sql)
		}
	}
	return out, nil
}

// rewriteInSubqueries rewrites the IN subqueries of a view for a cluster
// (see above): one over a sharded table reads the shard's local table; one
// over a day table becomes GLOBAL IN; one over nodeViews stays.
func rewriteInSubqueries(body, file string) (string, error) {
	var out strings.Builder
	last := 0
	for _, m := range inSubqueryRe.FindAllStringSubmatchIndex(body, -1) {
		table := body[m[6]:m[7]]
		out.WriteString(body[last:m[0]])
		last = m[1]
		switch _, sharded := shardingKeys[table]; {
		case nodeViews[table]:
			out.WriteString(body[m[0]:m[1]])
		case allNodeTables[table]:
			if strings.HasSuffix(strings.TrimRight(body[:m[0]], " \n"), "NOT") {
				return "", fmt.Errorf("%s: NOT IN subquery over %s: write it GLOBAL NOT IN by hand", file, table)
			}
			out.WriteString("GLOBAL " + body[m[0]:m[1]])
		case sharded:
			out.WriteString(body[m[2]:m[3]] + body[m[4]:m[5]] + "." + localTable(table))
		default:
			return "", fmt.Errorf("%s: IN subquery reads %s, which is not a sharded table", file, table)
		}
	}
	out.WriteString(body[last:])
	return out.String(), nil
}

// dropShardRollups drops, ON CLUSTER, the tables of allNodeTables that a
// release before rollups ran on clusters replicated per shard (the rollup
// tables, then empty but for the sink's marks, which no run reads without
// a run recorded after them), so that the DDL makes them again on every
// node. It reports whether it dropped any: the views over them must then
// be made again too.
func dropShardRollups(ctx context.Context, conn driver.Conn, database, cluster string) (bool, error) {
	dropped := false
	for t := range allNodeTables {
		var path string
		err := conn.QueryRow(ctx, "SELECT zookeeper_path FROM system.replicas WHERE database = ? AND table = ?", database, t).Scan(&path)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && path == allNodePath(database, t)) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("migrate: read where %s is replicated: %w", t, err)
		}
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+database+"."+t+" ON CLUSTER "+cluster); err != nil {
			return false, fmt.Errorf("migrate: drop %s (replicated per shard) to make it on every node: %w", t, err)
		}
		dropped = true
	}
	return dropped, nil
}

// allNodePath is the ZooKeeper path of db.table replicated to every node.
func allNodePath(db, table string) string { return "/clickhouse/tables/all/" + db + "/" + table }

// versionsTableDDL creates schema_versions: a plain MergeTree on one
// server; on a cluster a table replicated to every node (one ZooKeeper path
// for all shards), so that whichever node an instance connects to reads
// the version recorded through any other.
func versionsTableDDL(database, cluster string) string {
	cols := " (version UInt32, written_by String, applied_at DateTime DEFAULT now())"
	if cluster == "" {
		return "CREATE TABLE IF NOT EXISTS " + database + ".schema_versions" + cols + " ENGINE = MergeTree ORDER BY version"
	}
	return "CREATE TABLE IF NOT EXISTS " + database + ".schema_versions ON CLUSTER " + cluster + cols +
		" ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/" + database + "/schema_versions', '{replica}') ORDER BY version"
}
