package migrate

import (
	"strings"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// Every statement of the schema translates for a cluster: each table gets a
// replicated local table and a Distributed one with its sharding key, every
// DDL runs ON CLUSTER, the latest-version IN subqueries read the shard's
// local table (18.16 refuses a Distributed table there), the rollup and day
// tables are replicated to every node and the live days are picked with
// GLOBAL IN.
func TestClusterDDL(t *testing.T) {
	stmts, err := schemas.DDL("db")
	if err != nil {
		t.Fatal(err)
	}
	out, err := clusterDDL(stmts, "c")
	if err != nil {
		t.Fatal(err)
	}
	tables := 0
	for _, s := range out {
		if !strings.Contains(s.SQL, " ON CLUSTER c") {
			t.Errorf("%s: not ON CLUSTER: %.80s", s.File, s.SQL)
		}
		if strings.Contains(s.SQL, "ENGINE = ReplacingMergeTree") || strings.Contains(s.SQL, "{table}") || strings.Contains(s.SQL, "{database}") {
			t.Errorf("%s: a non-replicated engine or a macro 18.16 lacks: %.200s", s.File, s.SQL)
		}
		if strings.Contains(s.SQL, "ENGINE = Distributed(") {
			tables++
		}
	}
	if tables != len(shardingKeys) {
		t.Errorf("%d Distributed tables, want one per sharded table (%d)", tables, len(shardingKeys))
	}
	joined := ""
	for _, s := range out {
		joined += s.SQL + ";\n"
	}
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS db.attributed_conversions_local ON CLUSTER c\n",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/attributed_conversions_local', '{replica}', version)\nPARTITION BY toYYYYMM(conversion_date)\nORDER BY (conversion_date, conversion_id)\nSETTINGS index_granularity = 1024",
		"ENGINE = Distributed(c, db, conversion_versions_local, cityHash64(conversion_id))",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS db.conversion_versions_mv ON CLUSTER c TO db.conversion_versions AS",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/touchpoints_local', '{replica}')\n",
		"CREATE TABLE IF NOT EXISTS db.attributed_conversions ON CLUSTER c AS db.attributed_conversions_local ENGINE = Distributed(c, db, attributed_conversions_local, cityHash64(conversion_id))",
		"ENGINE = Distributed(c, db, touchpoints_local, cityHash64(user_key))",
		"ENGINE = Distributed(c, db, conversions_local, cityHash64(user_key))",
		// touchpoints' rows by day, sharded as touchpoints, filled by a
		// materialized view on every node.
		"ENGINE = Distributed(c, db, touchpoints_by_day_local, cityHash64(user_key))",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS db.touchpoints_by_day_mv ON CLUSTER c TO db.touchpoints_by_day AS",
		"FROM db.attributed_conversions FINAL",
		"FROM db.model_fits_local\n    GROUP BY model, params",
		// The rollup and day tables on every node; the live days picked
		// once, on the node the query runs on (GLOBAL IN).
		"CREATE TABLE IF NOT EXISTS db.rollup_runs ON CLUSTER c\n",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/rollup_runs', '{replica}', run_id)",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/credit_rollup', '{replica}')",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/rollup_marks', '{replica}', marked_at)",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/credit_days', '{replica}')",
		"FROM db.attributed_conversions FINAL\n            WHERE conversion_date GLOBAL IN\n            (\n                SELECT date\n                FROM db.credit_days\n                WHERE date NOT IN (SELECT date FROM db.rollup_valid_days WHERE kind = 'credits')\n            )\n            AND cityHash64(conversion_id) < 9223372036854775808",
		"\n            )\n            AND cityHash64(conversion_id) >= 9223372036854775808",
		"FROM db.touchpoints_by_day FINAL\n    WHERE event_date GLOBAL IN\n    (\n        SELECT date\n        FROM db.touchpoint_days\n",
		"FROM db.credit_rollup\n    WHERE (date, run_id) IN (SELECT date, run_id FROM db.rollup_valid_days WHERE kind = 'credits')",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("cluster DDL lacks %q", want)
		}
	}
	// A table without a sharding key, or a statement of an unknown kind,
	// is refused rather than half translated.
	if _, err := clusterDDL([]schemas.Statement{{File: "x.sql", SQL: "CREATE TABLE IF NOT EXISTS db.newtable\n(a UInt8)\nENGINE = ReplacingMergeTree()\nORDER BY a"}}, "c"); err == nil || !strings.Contains(err.Error(), "sharding key") {
		t.Errorf("a table without a sharding key: err = %v", err)
	}
	if _, err := clusterDDL([]schemas.Statement{{File: "x.sql", SQL: "CREATE VIEW IF NOT EXISTS db.v AS\nSELECT a FROM db.touchpoints WHERE event_date NOT IN (SELECT date FROM db.touchpoint_days)"}}, "c"); err == nil || !strings.Contains(err.Error(), "GLOBAL NOT IN") {
		t.Errorf("a NOT IN over a day table: err = %v", err)
	}
	if _, err := clusterDDL([]schemas.Statement{{File: "x.sql", SQL: "ALTER TABLE db.t DELETE WHERE 1"}}, "c"); err == nil {
		t.Error("an unknown statement translated")
	}
	if _, err := clusterDDL(stmts, "bad name"); err == nil {
		t.Error("an invalid cluster name accepted")
	}
}
