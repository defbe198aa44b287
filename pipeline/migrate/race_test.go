package migrate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A migration's reads of system.tables succeed while another instance
// drops and creates views in the same database: ClickHouse 18.16 fails
// such a read with "table doesn't exist" when any table of the database
// is dropped meanwhile, whichever the read asked about (seen once in
// TestConcurrentMigrationsAllSucceed, on the check of
// attributed_conversions' sorting key).
func TestSystemTablesReadWhileViewsAreDropped(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := env.Database
	if err := env.CH.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		t.Fatal(err)
	}
	if err := env.CH.Exec(ctx, "CREATE TABLE "+db+".attributed_conversions (conversion_id String) ENGINE = MergeTree ORDER BY conversion_id"); err != nil {
		t.Fatal(err)
	}
	churn, stop := make(chan error, 1), make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				churn <- nil
				return
			default:
			}
			v := fmt.Sprintf("%s.v%d", db, i%8)
			for _, q := range []string{"DROP TABLE IF EXISTS " + v, "CREATE VIEW " + v + " AS SELECT conversion_id FROM " + db + ".attributed_conversions"} {
				if err := env.CH.Exec(ctx, q); err != nil {
					churn <- err
					return
				}
			}
		}
	}()
	var failed error
	for i := 0; i < 300 && failed == nil; i++ {
		old, err := migrate.SortedByIDAlone(ctx, env.CH, db, "attributed_conversions")
		switch {
		case err != nil:
			failed = fmt.Errorf("read %d: %w", i, err)
		case !old:
			failed = fmt.Errorf("read %d: attributed_conversions sorted by conversion_id alone not seen as such", i)
		}
	}
	close(stop)
	if err := <-churn; err != nil {
		t.Fatalf("drop and create views: %v", err)
	}
	if failed != nil {
		t.Fatal(failed)
	}
}
