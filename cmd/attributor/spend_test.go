package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

func TestParseSpendCSV(t *testing.T) {
	in := "\uFEFFCost, Extra ,Date,SOURCE,medium,campaign,currency,channel,event_id\n" +
		"12.5,x,2026-11-01,google,cpc,brand,EUR,,\n" + // channel derived
		"0.1,x,2026-11-01,google,cpc,brand,EUR,,\n" + // same key: added to the first
		"3,x,2026-11-01,google,cpc,brand,USD,,\n" + // another currency: its own row
		"7.25,x,2026-11-02,,,launch,EUR,tv,\n" +
		"1,x,2026-11-02,,,launch,EUR,tv,given-id\n"
	imp, err := parseSpendCSV(strings.NewReader(in), schemas.NewDecoder(nil))
	if err != nil {
		t.Fatal(err)
	}
	if imp.read != 5 || len(imp.bad) != 0 || imp.merged != 1 || len(imp.rows) != 4 {
		t.Fatalf("read %d bad %v merged %d rows %+v; want 5 read, 0 bad, 1 merged, 4 rows", imp.read, imp.bad, imp.merged, imp.rows)
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	want := schemas.AdSpend{Date: day, Channel: schemas.ChannelPaidSearch, Source: "google", Medium: "cpc", Campaign: "brand", CostMicros: 12_600_000, Currency: "EUR"}
	want.EventID = spendID(&want)
	if imp.rows[0] != want {
		t.Errorf("row 0 = %+v\nwant   %+v", imp.rows[0], want)
	}
	if imp.rows[1].Currency != "USD" || imp.rows[1].EventID == want.EventID {
		t.Errorf("row 1 = %+v: another currency must be another row", imp.rows[1])
	}
	if r := imp.rows[2]; r.Channel != "tv" || r.CostMicros != 7_250_000 || !strings.HasPrefix(r.EventID, "import-") {
		t.Errorf("row 2 = %+v", r)
	}
	if r := imp.rows[3]; r.EventID != "given-id" || r.CostMicros != 1_000_000 {
		t.Errorf("row 3 = %+v: the file's event_id is kept", r)
	}
}

// Invalid rows are reported with the line they start on, by the rules of
// the ad_spend decoder, and the valid ones are kept.
func TestParseSpendCSVInvalidRows(t *testing.T) {
	in := "date,channel,campaign,cost,event_id\n" +
		"2026-11-01,email,news,1,\n" + // line 2: valid
		"2026-11-31,email,news,1,\n" + // 3
		"2026-11-01,email,news,-1,\n" + // 4
		"2026-11-01,email,news,\"1,5\",\n" + // 5
		"2026-11-01,email,news,,\n" + // 6
		"2026-11-01,,news,1,\n" + // 7
		"1999-12-31,email,news,1,\n" + // 8
		"\"2026-11-01\nx\",email,news,1,\n" + // 9-10: a quoted newline
		"2026-11-01,email\n" + // 11
		"2026-11-01,email,news,2e12,\n" + // 12
		"2026-11-01,email,news,Inf,\n" + // 13
		"2026-11-02,email,news,1,e1\n" + // 14: valid
		"2026-11-03,email,news,1,e1\n" + // 15: the same event_id again
		"2026-11-01,email,bad \"quote,1,\n" + // 16
		"2026-11-04,email,news,0,\n" // 17: valid, zero cost
	imp, err := parseSpendCSV(strings.NewReader(in), schemas.NewDecoder(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{
		3: "date: must be YYYY-MM-DD", 4: "cost: must not be negative", 5: "cost: not a number", 6: "cost: required",
		7: "channel: required", 8: "date: out of range", 9: "date: must be YYYY-MM-DD", 11: "2 fields, the header has 5",
		12: "cost: too large", 13: "cost: not a number", 15: `event_id: "e1" is already on line 14`, 16: "quote",
	}
	got := map[int]string{}
	for _, b := range imp.bad {
		got[b.line] = b.err.Error()
	}
	for line, msg := range want {
		if !strings.Contains(got[line], msg) {
			t.Errorf("line %d: %q, want %q", line, got[line], msg)
		}
	}
	if len(got) != len(want) {
		t.Errorf("invalid lines %v, want %v", got, want)
	}
	if imp.read != 15 || len(imp.rows) != 3 {
		t.Errorf("%d rows read, %d valid; want 15 and 3", imp.read, len(imp.rows))
	}
}

func TestParseSpendCSVHeader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty file"},
		{"date,channel,campaign\n", "missing column cost"},
		{"date,cost,campaign\n", "missing column channel (or source and medium"},
		{"channel,cost\n", "missing column date, campaign"},
		{"date,channel,campaign,cost,Cost\n", `column "cost" twice`},
	} {
		_, err := parseSpendCSV(strings.NewReader(c.in), schemas.NewDecoder(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("header %q: %v, want %q", c.in, err, c.want)
		}
	}
	// source alone is enough to derive the channel from.
	if _, err := parseSpendCSV(strings.NewReader("date,source,campaign,cost\n"), schemas.NewDecoder(nil)); err != nil {
		t.Errorf("source without channel: %v", err)
	}
}

// The derived id depends on every identifying field and only on them, with
// no ambiguity between fields.
func TestSpendID(t *testing.T) {
	base := schemas.AdSpend{Date: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Channel: "c", Source: "s", Medium: "m", Campaign: "k", Currency: "EUR", CostMicros: 1}
	id := spendID(&base)
	same := base
	same.CostMicros = 99
	if spendID(&same) != id {
		t.Error("the cost changed the id: a corrected file would not replace the first import")
	}
	for name, change := range map[string]func(*schemas.AdSpend){
		"date":     func(s *schemas.AdSpend) { s.Date = s.Date.AddDate(0, 0, 1) },
		"channel":  func(s *schemas.AdSpend) { s.Channel = "c2" },
		"source":   func(s *schemas.AdSpend) { s.Source = "s2" },
		"medium":   func(s *schemas.AdSpend) { s.Medium = "m2" },
		"campaign": func(s *schemas.AdSpend) { s.Campaign = "k2" },
		"currency": func(s *schemas.AdSpend) { s.Currency = "USD" },
		"boundary": func(s *schemas.AdSpend) { s.Channel, s.Source = "cs", "" },
	} {
		s := base
		change(&s)
		if spendID(&s) == id {
			t.Errorf("changing the %s kept the id", name)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpendImportCommandValidation(t *testing.T) {
	bad := writeFile(t, "spend.csv", "date,channel,campaign,cost\n2026-11-01,email,news,1\n2026-11-01,email,news,-2\n")
	code, stdout, stderr := runSubcommand("spend", "import", bad, "--dry-run")
	if code != 1 || !strings.Contains(stderr, "spend.csv:3: cost: must not be negative") || !strings.Contains(stderr, "nothing loaded") || stdout != "" {
		t.Errorf("invalid row: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = runSubcommand("spend", "import", "--skip-invalid", "--dry-run", bad)
	if code != 0 || !strings.Contains(stderr, "spend.csv:3: cost") || !strings.Contains(stdout, "2 rows read, 1 invalid, 1 spend rows totalling 1.000000; dry run") {
		t.Errorf("--skip-invalid: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"spend"}, 2, "usage: attributor spend import"},
		{[]string{"spend", "export", "x.csv"}, 2, `unknown subcommand "export"`},
		{[]string{"spend", "import"}, 2, "one FILE.csv"},
		{[]string{"spend", "import", "a.csv", "b.csv"}, 2, "one FILE.csv"},
		{[]string{"spend", "import", filepath.Join(t.TempDir(), "missing.csv")}, 1, "no such file"},
		{[]string{"spend", "import", writeFile(t, "h.csv", "day,cost\n")}, 1, "missing column date"},
		{[]string{"spend", "import", bad, "--database", "no-dash"}, 2, "not a valid identifier"},
	} {
		code, _, stderr := runSubcommand(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if code, _, _ := runSubcommand("spend", "--help"); code != 0 {
		t.Errorf("spend --help: exit %d", code)
	}
}

// testClickHouse returns the address of ATTRIBUTOR_TEST_CLICKHOUSE (default
// 127.0.0.1:9000) and a connection, or skips the test when it does not
// answer (fails instead with ATTRIBUTOR_REQUIRE_SERVICES=1).
func testClickHouse(t *testing.T) (string, driver.Conn) {
	t.Helper()
	addr := os.Getenv("ATTRIBUTOR_TEST_CLICKHOUSE")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 3 * time.Second})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = conn.Ping(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("ATTRIBUTOR_REQUIRE_SERVICES") == "1" {
			t.Fatalf("ClickHouse at %s unreachable: %v", addr, err)
		}
		t.Skipf("ClickHouse test skipped: %s unreachable (scripts/services.sh up starts it): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return addr, conn
}

// migratedDatabase creates a fresh database with `attributor migrate` and
// drops it when the test ends.
func migratedDatabase(t *testing.T, addr string, conn driver.Conn) string {
	t.Helper()
	var rnd [4]byte
	rand.Read(rnd[:])
	db := "t_cmd_" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
	})
	if code, _, stderr := runSubcommand("migrate", "--clickhouse", addr, "--database", db); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	return db
}

type spendRow struct {
	id, channel, campaign, origin string
	cost                          int64
}

func readSpend(t *testing.T, conn driver.Conn, db string) map[string]spendRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT event_id, channel, campaign, origin, cost_micros FROM "+db+".ad_spend FINAL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]spendRow{}
	for rows.Next() {
		var r spendRow
		if err := rows.Scan(&r.id, &r.channel, &r.campaign, &r.origin, &r.cost); err != nil {
			t.Fatal(err)
		}
		out[r.channel+"/"+r.campaign] = r
	}
	return out
}

// Importing a corrected file replaces the rows of the first import; with
// --skip-invalid only the valid rows load.
func TestSpendImportCommandClickHouse(t *testing.T) {
	addr, conn := testClickHouse(t)
	db := migratedDatabase(t, addr, conn)
	import_ := func(content string, extra ...string) (int, string) {
		args := append([]string{"spend", "import", writeFile(t, "spend.csv", content), "--clickhouse", addr, "--database", db}, extra...)
		code, stdout, stderr := runSubcommand(args...)
		return code, stdout + stderr
	}
	if code, out := import_("date,channel,campaign,cost\n2026-11-01,paid_search,brand,100.5\n2026-11-01,display,retargeting,20\n"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, out)
	}
	first := readSpend(t, conn, db)
	if len(first) != 2 || first["paid_search/brand"].cost != 100_500_000 || first["display/retargeting"].origin != "import" {
		t.Fatalf("after the first import: %+v", first)
	}
	if code, out := import_("campaign,cost,channel,date\nbrand,110.25,paid_search,2026-11-01\nretargeting,20,display,2026-11-01\n"); code != 0 {
		t.Fatalf("corrected import: exit %d: %s", code, out)
	}
	second := readSpend(t, conn, db)
	if len(second) != 2 || second["paid_search/brand"].cost != 110_250_000 || second["paid_search/brand"].id != first["paid_search/brand"].id {
		t.Errorf("after the corrected import: %+v; want the brand row replaced, at 110.25", second)
	}

	code, out := import_("date,channel,campaign,cost\n2026-11-02,email,news,5\n2026-11-02,email,promo,-5\n")
	if code != 1 || len(readSpend(t, conn, db)) != 2 {
		t.Errorf("an invalid row: exit %d (%s), want 1 and nothing loaded", code, out)
	}
	if code, out := import_("date,channel,campaign,cost\n2026-11-02,email,news,5\n2026-11-02,email,promo,-5\n", "--skip-invalid"); code != 0 || !strings.Contains(out, "spend.csv:3: cost") {
		t.Errorf("--skip-invalid: exit %d: %s", code, out)
	}
	if got := readSpend(t, conn, db); len(got) != 3 || got["email/news"].cost != 5_000_000 {
		t.Errorf("after --skip-invalid: %+v; want the valid email row added", got)
	}
}

// Rows of one (date, channel, campaign, ...) are added up with a bound: ten
// rows of the largest accepted cost once wrapped to a negative spend.
func TestParseSpendCSVSumOutOfRange(t *testing.T) {
	in := "date,channel,campaign,cost\n" + strings.Repeat("2026-11-01,tv,launch,1000000000000\n", 10)
	imp, err := parseSpendCSV(strings.NewReader(in), schemas.NewDecoder(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.rows) != 1 || imp.rows[0].CostMicros != maxSpendMicros {
		t.Fatalf("rows %+v; want one row holding the first 1e12", imp.rows)
	}
	if len(imp.bad) != 9 || imp.bad[0].line != 3 || !strings.Contains(imp.bad[0].err.Error(), "adds up to more than") {
		t.Fatalf("bad rows %v; want lines 3..11 out of range", imp.bad)
	}
	for _, r := range imp.rows {
		if r.CostMicros < 0 {
			t.Fatalf("negative spend %d", r.CostMicros)
		}
	}
}

// The total of a file whose rows are each valid but add up beyond int64 is
// an error, not a wrapped number in the summary.
func TestSpendImportTotalOutOfRange(t *testing.T) {
	var b strings.Builder
	b.WriteString("date,channel,campaign,cost\n")
	for i := range 10 {
		fmt.Fprintf(&b, "2026-11-01,tv,launch-%d,1000000000000\n", i)
	}
	file := filepath.Join(t.TempDir(), "spend.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if code := runSpend([]string{"import", file, "--dry-run"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, stdout %q stderr %q; want 1", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "out of range") || strings.Contains(stdout.String(), "-") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// A file without line breaks fails at the first line, it does not grow a
// buffer to gigabytes.
func TestSpendImportDevZeroFailsFast(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	var stdout, stderr strings.Builder
	if code := runSpend([]string{"import", "/dev/zero", "--dry-run"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d; want 1", code)
	}
	if !strings.Contains(stderr.String(), "line 1: longer than 65536 bytes") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
