package history

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// LoadFrontiers returns, per partition, the latest event time of the
// conversions already attributed: a touchpoint at or before it may belong to
// an attributed conversion and must be checked for re-attribution. Rows
// after untilMs (now plus the future skew) are ignored: only a release
// before the future check stored such rows, and one of them must not
// poison every later run.
func LoadFrontiers(ctx context.Context, conn driver.Conn, db string, untilMs int64) (map[int32]int64, error) {
	rows, err := conn.Query(ctx, "SELECT kafka_partition, max(ts_ms) FROM "+db+".conversions WHERE ts_ms <= ? GROUP BY kafka_partition", untilMs)
	if err != nil {
		return nil, fmt.Errorf("load frontiers: %w", err)
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var p int32
		var ms int64
		if err := rows.Scan(&p, &ms); err != nil {
			return nil, fmt.Errorf("load frontiers: %w", err)
		}
		out[p] = ms
	}
	return out, rows.Err()
}

// partitionSet binds partition numbers as a set, "(0, 1, 2)": a Go slice
// would bind as an array, which ClickHouse 18.16 rejects on the right of IN.
func partitionSet(partitions []int32) clickhouse.GroupSet {
	set := clickhouse.GroupSet{Value: make([]any, len(partitions))}
	for i, p := range partitions {
		set.Value[i] = p
	}
	return set
}

// LoadStoredKeys returns the keys of the users that have touchpoints and
// those that have conversions stored for the given partitions since fromMs:
// the only users whose state may need a history load in a new generation.
func LoadStoredKeys(ctx context.Context, conn driver.Conn, db string, partitions []int32, fromMs int64) (tpKeys, convKeys []string, err error) {
	if len(partitions) == 0 {
		return nil, nil, nil
	}
	for _, table := range []string{"touchpoints", "conversions"} {
		var keys []string
		rows, err := conn.Query(ctx, "SELECT DISTINCT user_key FROM "+db+"."+table+" WHERE kafka_partition IN ? AND ts_ms >= ?", partitionSet(partitions), fromMs)
		if err != nil {
			return nil, nil, fmt.Errorf("load stored users: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("load stored users: %w", err)
			}
			keys = append(keys, k)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("load stored users: %w", err)
		}
		if table == "touchpoints" {
			tpKeys = keys
		} else {
			convKeys = keys
		}
	}
	return tpKeys, convKeys, nil
}

// LatestTouchpoints returns, per partition, the latest stored touchpoint
// time up to untilMs: where each partition's watermark stood when its last
// owner stopped. Rows after untilMs (now plus the future skew; only a
// release before the future check stored them) are ignored, as the live
// check would have dead-lettered them.
func LatestTouchpoints(ctx context.Context, conn driver.Conn, db string, partitions []int32, untilMs int64) (map[int32]int64, error) {
	out := map[int32]int64{}
	if len(partitions) == 0 {
		return out, nil
	}
	rows, err := conn.Query(ctx, "SELECT kafka_partition, max(ts_ms) FROM "+db+".touchpoints WHERE kafka_partition IN ? AND ts_ms <= ? GROUP BY kafka_partition", partitionSet(partitions), untilMs)
	if err != nil {
		return nil, fmt.Errorf("latest touchpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p int32
		var ms int64
		if err := rows.Scan(&p, &ms); err != nil {
			return nil, fmt.Errorf("latest touchpoints: %w", err)
		}
		out[p] = ms
	}
	return out, rows.Err()
}
