package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
)

var update = flag.Bool("update", false, "rewrite the Grafana dashboard's queries from schemas/dashboards/*.sql")

const (
	dashboardPath  = "../../scripts/grafana/dashboards/attributor.json"
	datasourcePath = "../../scripts/grafana/provisioning/datasources/clickhouse.yaml"
	dashboardSQL   = "../../schemas/dashboards"
)

// panelFileRe finds, in a panel's description, the file its query is kept in.
var panelFileRe = regexp.MustCompile(`SQL: schemas/dashboards/([a-z0-9_]+\.sql)`)

// dashboardFiles returns the dashboard's SQL files by name, their text
// without the final newline.
func dashboardFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dashboardSQL, "*.sql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboard SQL in %s: %v", dashboardSQL, err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = strings.TrimRight(string(b), "\n")
	}
	return out
}

// The dashboard's queries are the files of schemas/dashboards, one panel
// each, on the provisioned data source; with -update the test writes the
// files into the dashboard instead.
func TestDashboardQueriesAreTheFiles(t *testing.T) {
	files := dashboardFiles(t)
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	ds, err := os.ReadFile(datasourcePath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+uid:\s*(\S+)`).FindSubmatch(ds)
	if m == nil {
		t.Fatalf("%s names no uid", datasourcePath)
	}
	uid := string(m[1])

	used := map[string]int{}
	panels, _ := dash["panels"].([]any)
	for _, p := range panels {
		panel := p.(map[string]any)
		title, _ := panel["title"].(string)
		desc, _ := panel["description"].(string)
		fm := panelFileRe.FindStringSubmatch(desc)
		if fm == nil {
			t.Errorf("panel %q: its description names no schemas/dashboards file", title)
			continue
		}
		file := fm[1]
		used[file]++
		want, ok := files[file]
		if !ok {
			t.Errorf("panel %q: %s does not exist", title, file)
			continue
		}
		targets, _ := panel["targets"].([]any)
		if len(targets) != 1 {
			t.Errorf("panel %q: %d queries, want 1", title, len(targets))
			continue
		}
		target := targets[0].(map[string]any)
		for what, v := range map[string]any{"panel": panel["datasource"], "query": target["datasource"]} {
			if d, _ := v.(map[string]any); d["uid"] != uid || d["type"] != "grafana-clickhouse-datasource" {
				t.Errorf("panel %q: the %s's data source is %v, want the provisioned %s", title, what, v, uid)
			}
		}
		if *update {
			target["rawSql"] = want
			continue
		}
		if got, _ := target["rawSql"].(string); got != want {
			t.Errorf("panel %q: its query differs from %s (run go test ./pipeline/report -run Dashboard -update):\n%s\nwant:\n%s", title, file, got, want)
		}
	}
	for file := range files {
		if used[file] != 1 {
			t.Errorf("%s is the query of %d panels, want 1", file, used[file])
		}
	}

	vars := map[string]map[string]any{}
	tmpl, _ := dash["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		v := v.(map[string]any)
		vars[v["name"].(string)] = v
	}
	if vars["database"] == nil || vars["model"] == nil {
		t.Errorf("dashboard variables %v, want database and model", slices.Sorted(maps.Keys(vars)))
	} else if q, _ := vars["model"]["query"].(string); q != strings.Join(attribution.ModelNames, ",") {
		t.Errorf("model variable %q, want the models %v", q, attribution.ModelNames)
	}

	if *update {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(dash); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dashboardPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// grafanaMacros expands what the Grafana ClickHouse plugin expands
// (grafana/clickhouse-datasource pkg/macros) and the dashboard variables,
// for a time range of whole UTC days.
func grafanaMacros(sql, db, model string, from, to time.Time) string {
	sql = regexp.MustCompile(`\$__dateFilter\((\w+)\)`).ReplaceAllString(sql,
		fmt.Sprintf("$1 >= toDate('%s') AND $1 <= toDate('%s')", from.Format(time.DateOnly), to.Format(time.DateOnly)))
	sql = strings.ReplaceAll(sql, "$__fromTime", fmt.Sprintf("toDateTime(%d)", from.Unix()))
	sql = strings.ReplaceAll(sql, "$__toTime", fmt.Sprintf("toDateTime(%d)", to.Unix()))
	sql = strings.ReplaceAll(sql, "${database}", db)
	return strings.ReplaceAll(sql, "${model}", model)
}

// table runs sql and returns its rows as column name -> value, numbers as
// float64 and NULL as nil.
func (f *fixture) table(t *testing.T, sql string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := f.conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	var out []map[string]any
	for rows.Next() {
		dest := make([]any, len(cols))
		for i, c := range cols {
			dest[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("scan: %v\n%s", err, sql)
		}
		row := map[string]any{}
		for i, c := range cols {
			row[c.Name()] = plain(reflect.ValueOf(dest[i]).Elem())
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return out
}

func plain(v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return v.Interface()
}

func columnSum(rows []map[string]any, col string) float64 {
	s := 0.0
	for _, r := range rows {
		if v, ok := r[col].(float64); ok {
			s += v
		}
	}
	return s
}

// Every panel's query runs on the fixture, with the macros expanded as
// Grafana expands them, and its figures add up to what the data hold.
func TestDashboardQueriesRun(t *testing.T) {
	f := loadedFixture(t)
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	ps := paths(f.credited)
	var total int64
	var withPath, users float64
	for _, p := range ps {
		total += p.revenue
		if p.touches > 0 {
			withPath++
		}
	}
	seen := map[string]bool{}
	for _, tp := range f.touchpoints {
		if !seen[tp.Key()] {
			seen[tp.Key()] = true
			users++
		}
	}
	revenue := float64(total) / 1e6
	var spend int64
	for k, w := range f.expectChannelPerformance() {
		if k.model == "linear" {
			spend += w.spend()
		}
	}
	topPath := map[string]float64{}
	for _, p := range ps {
		topPath[p.path()]++
	}
	counts := make([]float64, 0, len(topPath))
	for _, n := range topPath {
		counts = append(counts, n)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(counts)))

	checks := map[string]func(rows []map[string]any) string{
		"revenue_by_channel.sql": func(rows []map[string]any) string {
			return sumIs(rows, "attributed_revenue", revenue)
		},
		"channel_performance.sql": func(rows []map[string]any) string {
			return sumIs(rows, "Revenue", revenue) + sumIs(rows, "Spend", float64(spend)/1e6)
		},
		"model_comparison.sql": func(rows []map[string]any) string {
			var s string
			for _, c := range []string{"Last click", "First click", "Linear", "Time decay", "Position based", "Last non-direct"} {
				s += sumIs(rows, c, revenue)
			}
			return s
		},
		"assists_vs_closes.sql": func(rows []map[string]any) string { return sumIs(rows, "Closed", withPath) },
		"top_paths.sql": func(rows []map[string]any) string {
			if len(rows) != min(20, len(counts)) || rows[0]["Conversions"] != counts[0] {
				return fmt.Sprintf("%d paths, the first with %v conversions; want %d, %v", len(rows), rows[0]["Conversions"], min(20, len(counts)), counts[0])
			}
			return ""
		},
		"time_to_conversion.sql": func(rows []map[string]any) string { return sumIs(rows, "Conversions", withPath) },
		"path_length.sql":        func(rows []map[string]any) string { return sumIs(rows, "Conversions", float64(len(ps))) },
		"cohort_value.sql":       func(rows []map[string]any) string { return sumIs(rows, "Users", users) },
	}
	for file, sql := range dashboardFiles(t) {
		q := grafanaMacros(sql, f.db, "linear", from, to)
		if strings.Contains(q, "$") {
			t.Errorf("%s: a macro or variable the test does not expand:\n%s", file, q)
			continue
		}
		rows := f.table(t, q)
		if len(rows) == 0 {
			t.Errorf("%s: no rows", file)
			continue
		}
		check := checks[file]
		if check == nil {
			t.Errorf("%s: no check of its figures in this test", file)
			continue
		}
		if msg := check(rows); msg != "" {
			t.Errorf("%s: %s", file, msg)
		}
	}
}

func sumIs(rows []map[string]any, col string, want float64) string {
	if got := columnSum(rows, col); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		return fmt.Sprintf("column %q sums to %v, want %v; ", col, got, want)
	}
	return ""
}
