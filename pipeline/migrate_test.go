package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/schemas"
)

// migrateAtOnce runs n migrations of db at once, each on a connection of
// its own as separate instances would, and returns their errors.
func migrateAtOnce(t *testing.T, env *pipelinetest.Env, db string, n int) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := env.Config().WithDefaults().ClickHouse
	cfg.Database = db
	conns := make([]interface{ Close() error }, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		conn, err := pipeline.OpenClickHouse(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = conn
		wg.Go(func() {
			<-start
			errs[i] = pipeline.Migrate(ctx, conn, db)
		})
	}
	close(start)
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	return errs
}

// checkSchema fails unless every table and view of the DDL exists in db and
// answers a query, and the recorded version is this binary's.
func checkSchema(t *testing.T, env *pipelinetest.Env, db string) {
	t.Helper()
	ctx := context.Background()
	stmts, err := schemas.DDL(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		f := strings.Fields(s.SQL)
		if len(f) < 6 || f[0] != "CREATE" || f[1] == "DATABASE" {
			continue
		}
		if f[1] == "MATERIALIZED" {
			f = f[1:]
		}
		name := f[5] // CREATE [MATERIALIZED] TABLE|VIEW IF NOT EXISTS db.name
		var n uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+name).Scan(&n); err != nil {
			t.Errorf("%s (%s): %v", name, s.File, err)
		}
	}
	var v uint32
	if err := env.CH.QueryRow(ctx, "SELECT max(version) FROM "+db+".schema_versions").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != schemas.SchemaVersion {
		t.Errorf("schema_versions records version %d, want %d", v, schemas.SchemaVersion)
	}
}

// Three instances migrating the same new database at once all succeed,
// round after round; so do three migrating a database an earlier release
// made (tables and views, no recorded version), which replaces its views.
// Before, views were dropped and created unconditionally, so one instance
// dropped conversion_paths while another created time_to_conversion over
// it: "code: 60 ... conversion_paths doesn't exist", 2 times in 3.
func TestConcurrentMigrationsAllSucceed(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	const rounds, instances = 5, 3
	for r := range rounds {
		db := fmt.Sprintf("%s_r%d", env.Database, r)
		t.Cleanup(func() { env.CH.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
		for i, err := range migrateAtOnce(t, env, db, instances) {
			if err != nil {
				t.Errorf("round %d, new database: instance %d: %v", r, i, err)
			}
		}
		checkSchema(t, env, db)

		// An earlier release's database: no version recorded.
		if err := env.CH.Exec(ctx, "DROP TABLE "+db+".schema_versions"); err != nil {
			t.Fatal(err)
		}
		for i, err := range migrateAtOnce(t, env, db, instances) {
			if err != nil {
				t.Errorf("round %d, database without a recorded version: instance %d: %v", r, i, err)
			}
		}
		checkSchema(t, env, db)
	}
}

// recordVersion records a schema version in the Env's database as a
// migration by the binary by would.
func recordVersion(t *testing.T, env *pipelinetest.Env, version uint32, by string) {
	t.Helper()
	ctx := context.Background()
	b, err := env.CH.PrepareBatch(ctx, "INSERT INTO "+env.Database+".schema_versions (version, written_by)")
	if err == nil {
		if err = b.Append(version, by); err == nil {
			err = b.Send()
		}
	}
	if err != nil {
		t.Fatalf("record schema version %d: %v", version, err)
	}
}

// A database migrated by a newer attributor stops an older one with a
// message naming both schema versions; an older recorded version is
// migrated forward and the current one recorded.
func TestSchemaVersionMismatch(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx := context.Background()
	if errs := migrateAtOnce(t, env, env.Database, 1); errs[0] != nil {
		t.Fatal(errs[0])
	}
	newer := uint32(schemas.SchemaVersion + 1)
	recordVersion(t, env, newer, "attributor v9.9.9")
	err := migrateAtOnce(t, env, env.Database, 1)[0]
	want := fmt.Sprintf("database %s has schema version %d (written by attributor v9.9.9), newer than this attributor's %d", env.Database, newer, schemas.SchemaVersion)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Migrate over a newer schema: %v; want an error containing %q", err, want)
	}
	// An older version recorded (0: before any): migrated forward, the
	// views replaced.
	for _, q := range []string{
		"DROP TABLE " + env.Database + ".schema_versions",
		"CREATE TABLE " + env.Database + ".schema_versions (version UInt32, written_by String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version",
	} {
		if err := env.CH.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	recordVersion(t, env, 0, "attributor before versions")
	if err := env.CH.Exec(ctx, "DROP TABLE "+env.Database+".cohort_value"); err != nil {
		t.Fatal(err)
	}
	if err := migrateAtOnce(t, env, env.Database, 1)[0]; err != nil {
		t.Fatalf("Migrate over an older schema: %v", err)
	}
	checkSchema(t, env, env.Database)
}
