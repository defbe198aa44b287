package migrate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// fixtureDDL returns the statements of the testdata files pattern matches
// (an earlier release's DDL), in name order, for database db: as in
// schemas/clickhouse, a statement ends with a line ending in ';', and
// comment lines are dropped.
func fixtureDDL(t *testing.T, db, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: %v (%d files)", pattern, err, len(files))
	}
	var out []string
	for _, f := range files { // Glob sorts by name
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur strings.Builder
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "--") {
				continue
			}
			cur.WriteString(line + "\n")
			if strings.HasSuffix(strings.TrimSpace(line), ";") {
				out = append(out, strings.ReplaceAll(strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"), "{db}", db))
				cur.Reset()
			}
		}
		if s := strings.TrimSpace(cur.String()); s != "" {
			t.Fatalf("%s: a statement without its closing ';': %.80q", f, s)
		}
	}
	return out
}

// execAll runs the statements on env's server, in order.
func execAll(t *testing.T, env *pipelinetest.Env, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if err := env.CH.Exec(t.Context(), q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
}

// recordedAs makes version v db's only recorded schema version, as the
// release of that version left it.
func recordedAs(db string, v int) []string {
	return []string{
		"TRUNCATE TABLE " + db + ".schema_versions",
		fmt.Sprintf("INSERT INTO %s.schema_versions (version, written_by) SELECT %d, 'attributor v%d'", db, v, v),
	}
}
