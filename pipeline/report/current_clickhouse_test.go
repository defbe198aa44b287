package report

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/schemas"
)

// Environment of TestCurrentClickHouse.
const (
	// envCHDB names a Python interpreter that can import chdb (pip install
	// chdb): the ClickHouse engine of a current release, in process.
	envCHDB = "ATTRIBUTOR_TEST_CHDB"
	// envClickHouseHTTP is the HTTP interface of the test ClickHouse, which
	// the script reads the fixture's raw rows from. Default: the host of
	// ATTRIBUTOR_TEST_CLICKHOUSE, port 8123.
	envClickHouseHTTP = "ATTRIBUTOR_TEST_CLICKHOUSE_HTTP"
)

// The views, dashboard queries, report queries and documented examples must
// run, with the same answers, on ClickHouse 18.16 and on current releases.
// The other tests run them on the server of scripts/services.sh (18.16);
// this one replays the fixture's raw rows into chDB, applies the same DDL,
// and compares every query's answer with the 18.16 server's. It runs when
// ATTRIBUTOR_TEST_CHDB names a Python with the chdb package.
func TestCurrentClickHouse(t *testing.T) { checkCurrentClickHouse(t, loadedFixture(t), nil, nil) }

// checkCurrentClickHouse runs the comparison of TestCurrentClickHouse,
// copying the extra tables too (with their columns) and running the extra
// queries beside the views, dashboards, reports and documented examples.
func checkCurrentClickHouse(t *testing.T, f *fixture, extraTables []string, extraQueries map[string]string) {
	t.Helper()
	python := os.Getenv(envCHDB)
	if python == "" {
		t.Skipf("skipping: set %s to a Python interpreter with the chdb package to check the queries on current ClickHouse", envCHDB)
	}
	httpAddr := os.Getenv(envClickHouseHTTP)
	if httpAddr == "" {
		host := "127.0.0.1"
		if a := os.Getenv(envClickHouse); a != "" {
			host, _, _ = strings.Cut(a, ":")
		}
		httpAddr = host + ":8123"
	}

	const placeholder = "zz_database_zz" // DDL wants an identifier; the script puts its own database in place of {db}
	stmts, err := schemas.DDL(placeholder)
	if err != nil {
		t.Fatal(err)
	}
	var ddl []string
	for _, s := range stmts {
		ddl = append(ddl, strings.ReplaceAll(s.SQL, placeholder, "{db}"))
	}
	type query struct {
		Name    string `json:"name"`
		SQL     string `json:"sql"`
		Ordered bool   `json:"ordered"`
	}
	var queries []query
	for _, v := range []string{"channel_performance", "model_comparison", "conversion_paths", "assisted_conversions", "time_to_conversion", "path_length", "top_paths", "cohort_value",
		"credited_daily", "channel_credits_daily", "reach_daily", "rollup_valid_days"} {
		queries = append(queries, query{Name: "view " + v, SQL: "SELECT * FROM {db}." + v})
	}
	for name, sql := range extraQueries {
		queries = append(queries, query{Name: name, SQL: sql})
	}
	from, to := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	for file, sql := range dashboardFiles(t) {
		queries = append(queries, query{Name: "dashboard " + file, SQL: grafanaMacros(sql, "{db}", "linear", from, to)})
	}
	wf, wt := window(f)
	for _, r := range Reports() {
		filters := []Filter{{}, {From: wf.Format(time.DateOnly), To: wt.Format(time.DateOnly), Limit: 50}}
		if r.HasModel {
			filters[1].Model = "linear"
		}
		for i, flt := range filters {
			sql, args, err := r.Query("xxdbxx", flt)
			if err != nil {
				t.Fatal(err)
			}
			queries = append(queries, query{Name: fmt.Sprintf("report %s #%d", r.Name, i), SQL: strings.ReplaceAll(bindForTest(sql, args), "xxdbxx", "{db}"), Ordered: true})
		}
	}
	doc, err := os.ReadFile("../../docs/ANALYSTS.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		queries = append(queries, query{Name: fmt.Sprintf("docs example %d", i+1), SQL: strings.ReplaceAll(b[1], "attribution.", "{db}.")})
	}

	tables := map[string][]string{}
	for _, table := range append([]string{"touchpoints", "conversions", "attributed_conversions", "ad_spend", "model_fits"}, extraTables...) {
		f.query(t, "SELECT name FROM system.columns WHERE database = ? AND table = ? AND name != 'inserted_at'", func(scan func(...any) error) error {
			var c string
			err := scan(&c)
			tables[table] = append(tables[table], c)
			return err
		}, f.db, table)
	}
	cfg, _ := json.Marshal(map[string]any{"http": httpAddr, "source": f.db, "ddl": ddl, "tables": tables, "queries": queries})
	cfgPath := filepath.Join(t.TempDir(), "queries.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "testdata/current_clickhouse.py", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("testdata/current_clickhouse.py: %v\n%s", err, out)
	}
	ok := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.HasPrefix(line, "ok "):
			ok++
		case strings.HasPrefix(line, "FAIL "):
			t.Error(line)
		default:
			t.Log(line)
		}
	}
	if ok+countFails(out) != len(queries) {
		t.Errorf("%d answers for %d queries:\n%s", ok+countFails(out), len(queries), out)
	}
}

func countFails(out []byte) int { return strings.Count("\n"+string(out), "\nFAIL ") }

// bindForTest puts the report's arguments into its placeholders as
// clickhouse-go's client-side binding does for the strings and ints a
// filter holds.
func bindForTest(sql string, args []any) string {
	for _, a := range args {
		v := fmt.Sprint(a)
		if s, ok := a.(string); ok {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
		}
		sql = strings.Replace(sql, "?", v, 1)
	}
	return sql
}
