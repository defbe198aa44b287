package history

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

// LoadLinks returns every link stored for the given homes (the
// anonymous_ids' repartition partitions): what the shards of a
// generation rebuild their link tables from. A link stored more than once
// (a retried write) is returned once.
func LoadLinks(ctx context.Context, conn driver.Conn, db string, homes []int32) ([]schemas.Link, error) {
	if len(homes) == 0 {
		return nil, nil
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT anonymous_id, user_id, ts_ms, event_id FROM "+db+".links WHERE home IN ?", partitionSet(homes))
	if err != nil {
		return nil, fmt.Errorf("load links: %w", err)
	}
	defer rows.Close()
	var out []schemas.Link
	for rows.Next() {
		var l schemas.Link
		if err := rows.Scan(&l.AnonymousID, &l.UserID, &l.TimeMs, &l.EventID); err != nil {
			return nil, fmt.Errorf("load links: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load links: %w", err)
	}
	return out, nil
}

// LoadLinkedUsers returns the users some device was ever linked to: their
// history may be stored under their devices' anonymous_ids only.
func LoadLinkedUsers(ctx context.Context, conn driver.Conn, db string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT user_id FROM "+db+".links")
	if err != nil {
		return nil, fmt.Errorf("load linked users: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("load linked users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
