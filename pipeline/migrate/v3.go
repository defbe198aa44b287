package migrate

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline/rollup"
)

// Schema version 3 adds the daily rollups (schemas/clickhouse/
// 008_rollups.sql). Their tables start empty, which is right: the views
// aggregate every day live until `attributor rollup` (or a running
// attributor) rolls days up. Only credit_days and touchpoint_days, the
// days the views may have to aggregate live, need the days stored before
// their materialized views existed: backfillDays adds them. It runs after
// the materialized views are created, so every day written since is
// added by them; a re-run adds the same days again, which collapse
// (ReplacingMergeTree by date), and the views read them as a set anyway.
//
// On a cluster the day tables are replicated to every node (cluster.go):
// the inserts wait for every node (insert_quorum), so that a view read
// through any node right after the migration sees every stored day.
func backfillDays(ctx context.Context, conn driver.Conn, database, cluster string) error {
	if cluster != "" {
		nodes, err := rollup.ClusterNodes(ctx, conn, cluster)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_quorum": nodes}))
	}
	for _, s := range []struct{ to, from, col string }{
		{"credit_days", "attributed_conversions", "conversion_date"},
		{"touchpoint_days", "touchpoints", "event_date"},
	} {
		q := fmt.Sprintf("INSERT INTO %[1]s.%[2]s (date) SELECT %[4]s FROM %[1]s.%[3]s GROUP BY %[4]s", database, s.to, s.from, s.col)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("migrate: record the days of %s: %w", s.from, err)
		}
	}
	return nil
}
