package migrate

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Schema version 7 records a day in credit_days and touchpoint_days only
// when an insert brings a day not recorded yet (schemas/clickhouse/
// 008_rollups.sql: credit_new_days_mv, touchpoint_new_days_mv), where the
// views of versions 3 to 6 (credit_days_mv, touchpoint_days_mv) wrote the
// days of every insert again: a part in each day table per insert, four a
// second in credit_days alone while streaming live, each merged again
// later. The guarantee is the same: every insert's days are in the table
// once the insert returns, whoever wrote it.
//
// dropEveryInsertDayViews is the step: it runs after the DDL, so the new
// views exist before the old ones go, and an insert at any moment of the
// migration has its days recorded by one of them (by both meanwhile: the
// days collapse). backfillDays runs after it anyway.
func dropEveryInsertDayViews(ctx context.Context, conn driver.Conn, database, cluster string) error {
	on := ""
	if cluster != "" {
		on = " ON CLUSTER " + cluster
	}
	for _, v := range []string{"credit_days_mv", "touchpoint_days_mv"} {
		if err := execRacing(ctx, conn, "DROP TABLE IF EXISTS "+database+"."+v+on); err != nil {
			return fmt.Errorf("migrate: drop %s (replaced by the view of new days): %w", v, err)
		}
	}
	return nil
}
