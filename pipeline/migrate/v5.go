package migrate

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Schema version 5 adds touchpoints_by_day (schemas/clickhouse/
// 009_touchpoints_by_day.sql): touchpoints' rows sorted by day, which the
// reach side of the aggregate views reads for a day read live, and the
// rollup for every day. Its materialized view adds the rows written once
// it exists; backfillTouchpointsByDay copies the rows stored before, one
// month (a partition of touchpoints) per statement so that no statement
// holds more than a month's rows. It runs after the view is created, so a
// row written meanwhile is in the new table twice at most: the copies
// share touchpoints' deduplication key and collapse on merge and under
// FINAL, which every reader of the table uses. A re-run (after an
// interrupted migration) copies again what it copied before, which
// collapses alike; until ClickHouse merges them the copies take disk.
//
// On a cluster both tables are Distributed over tables sharded by
// user_key, and the copy is synchronous (clusterInsert): each shard's
// rows go back to that shard.
func backfillTouchpointsByDay(ctx context.Context, conn driver.Conn, database, cluster string) error {
	rows, err := conn.Query(ctx, "SELECT DISTINCT toUInt32(toYYYYMM(event_date)) AS m FROM "+database+".touchpoints ORDER BY m")
	if err != nil {
		return fmt.Errorf("migrate: months of touchpoints: %w", err)
	}
	var months []uint32
	for rows.Next() {
		var m uint32
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: months of touchpoints: %w", err)
		}
		months = append(months, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("migrate: months of touchpoints: %w", err)
	}
	for _, m := range months {
		q := fmt.Sprintf("INSERT INTO %[1]s.touchpoints_by_day (event_date, user_key, ts_ms, event_hash, interaction, channel, campaign, cost) "+
			"SELECT event_date, user_key, ts_ms, sipHash64(event_id), interaction, channel, campaign, cost FROM %[1]s.touchpoints WHERE toYYYYMM(event_date) = %[2]d", database, m)
		if err := conn.Exec(clusterInsert(ctx, cluster), q); err != nil {
			return fmt.Errorf("migrate: copy touchpoints (month %d) into touchpoints_by_day: %w", m, err)
		}
	}
	return nil
}
