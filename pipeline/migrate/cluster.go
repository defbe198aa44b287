package migrate

import (
	"fmt"
	"regexp"
	"strings"

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
// history reload by key and FINAL see all of a user's rows on one shard).
// Views are created ON CLUSTER over the Distributed tables; the IN
// subqueries that pick a conversion's latest version read the shard's own
// _local table, which holds every version of the conversions the shard
// has, so each shard answers for its conversions and no query is
// distributed twice (18.16 denies that by default).
var shardingKeys = map[string]string{
	"touchpoints":            "cityHash64(user_key)",
	"conversions":            "cityHash64(user_key)",
	"attributed_conversions": "cityHash64(conversion_id)",
	"conversion_versions":    "cityHash64(conversion_id)",
	"ad_spend":               "cityHash64(event_id)",
	"identities":             "cityHash64(anonymous_id)",
	"links":                  "cityHash64(anonymous_id)",
	"links_by_user":          "cityHash64(user_id)",
	"model_fits":             "cityHash64(model, params)",
}

// nodeTables are the rollup tables (008_rollups.sql): on a cluster they
// are replicated within each shard under their own name, with no
// Distributed table over them, and nothing fills them (the rollup does not
// run on a cluster), so that the views that read them (through the view
// rollup_valid_days, left unrewritten in IN subqueries: nodeViews) find no
// rolled-up day and aggregate every day live, as before the rollups.
//
// allNodeTables (the days that hold rows) are replicated to every node
// under one path, like schema_versions, and filled by materialized views
// on the Distributed tables: whichever node an insert goes through, every
// node's views see its days.
var (
	nodeTables    = map[string]bool{"rollup_marks": true, "rollup_runs": true, "credit_rollup": true, "channel_rollup": true, "reach_rollup": true}
	allNodeTables = map[string]bool{"credit_days": true, "touchpoint_days": true}
	nodeViews     = map[string]bool{"rollup_valid_days": true}
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
			if nodeTables[table] || allNodeTables[table] {
				path := "/clickhouse/tables/{shard}/" + db + "/" + table
				if allNodeTables[table] {
					path = "/clickhouse/tables/all/" + db + "/" + table
				}
				out = append(out, schemas.Statement{File: s.File, SQL: replicated(sql, db, table, on, path)})
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
			body = inSubqueryRe.ReplaceAllStringFunc(body, func(m string) string {
				sm := inSubqueryRe.FindStringSubmatch(m)
				if nodeViews[sm[3]] || allNodeTables[sm[3]] {
					return m
				}
				if _, ok := shardingKeys[sm[3]]; !ok {
					err = fmt.Errorf("%s: IN subquery reads %s, which is not a sharded table", s.File, sm[3])
					return m
				}
				return sm[1] + sm[2] + "." + localTable(sm[3])
			})
			if err != nil {
				return nil, err
			}
			out = append(out, schemas.Statement{File: s.File, SQL: body})
		default:
			return nil, fmt.Errorf("%s: statement not translatable for a cluster: %.60s", s.File, sql)
		}
	}
	return out, nil
}

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
