package rollup_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/schemas"
)

// The aggregate views give the answers of the unfolded rows
// (credited_conversions, touchpoints FINAL) exactly, whatever the state of
// the rollup: before any run (every day live), after a run (every day
// rolled up), after re-attributions and late touchpoints written through
// the sink into rolled-up days (those days live again, the others still
// rolled up), after the next run, after a crashed run's stray rows, after
// a replay of the same rows, and after a forced re-run of a range.
func TestRollupViewsEqualUnfoldedRows(t *testing.T) {
	env, ctx, w := migratedEnv(t)
	rollupViewsEqualUnfoldedRows(t, ctx, env.CH, env.Database, "", w, []driver.Conn{env.CH})
}

// On a ClickHouse cluster (pipelinetest.EnvCluster: credits and
// touchpoints sharded and replicated, the rollup tables replicated to
// every node), the same: the runs and the sink write through the first
// node, and the views read through every node give the answers of the
// unfolded rows once the rollup tables' replication has caught up (SYSTEM
// SYNC REPLICA: the sink's marks reach the other nodes asynchronously).
func TestClusterRollupViewsEqualUnfoldedRows(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	if err := migrate.MigrateCluster(ctx, c.Conns[0], c.Database, c.Name); err != nil {
		t.Fatal(err)
	}
	rollupViewsEqualUnfoldedRows(t, ctx, c.Conns[0], c.Database, c.Name, newWriter(t, c.Conns[0], c.Database), c.Conns)
}

// rollupViewsEqualUnfoldedRows is TestRollupViewsEqualUnfoldedRows on
// database db, written and rolled up through conn (on cluster, "" for a
// single server), the views compared through each of readers.
func rollupViewsEqualUnfoldedRows(t *testing.T, ctx context.Context, conn driver.Conn, db, cluster string, w *writer, readers []driver.Conn) {
	check := func(t *testing.T, _ driver.Conn, db, stage string) {
		t.Helper()
		for i, r := range readers {
			if cluster != "" {
				syncReplicas(t, r, db)
			}
			checkViews(t, r, db, fmt.Sprintf("%s (reader %d of %d)", stage, i+1, len(readers)))
		}
	}
	validDays := func(t *testing.T, _ driver.Conn, db, kind string) []string {
		t.Helper()
		return validDaysOf(t, conn, db, kind)
	}
	// 6 days across a month boundary (two partitions), 1,500 conversions.
	start := time.Date(2026, 8, 29, 0, 0, 0, 0, time.UTC)
	convs := generate(1500, start, 6)
	for i := range convs {
		w.credit(&convs[i], 0)
	}
	w.flush()
	check(t, conn, db, "before any rollup")
	if got := validDays(t, conn, db, rollup.KindCredits); len(got) != 0 {
		t.Fatalf("valid days before any rollup: %v", got)
	}

	res, err := rollup.Run(ctx, conn, rollup.Options{Database: db, Cluster: cluster, Quiet: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.CreditDays != 6 || res.TouchpointDays < 6 {
		t.Fatalf("first run rolled up %d credit days and %d touchpoint days, want 6 and >= 6", res.CreditDays, res.TouchpointDays)
	}
	check(t, conn, db, "after the first run")
	if got := validDays(t, conn, db, rollup.KindCredits); len(got) != 6 {
		t.Fatalf("valid credit days after the first run: %v, want all 6", got)
	}
	// With the default quiet period, nothing is due again.
	again, err := rollup.Run(ctx, conn, rollup.Options{Database: db})
	if err != nil || again.CreditDays+again.TouchpointDays != 0 {
		t.Fatalf("second run: %+v, %v; want nothing to do", again, err)
	}

	// Late touchpoints re-attribute some conversions of two days: new
	// versions (other channels, other credits) and new touchpoints,
	// written through the sink, which marks those days.
	var late []string
	for i := range convs {
		c := &convs[i]
		if d := day(c.timeMs); (d == "2026-08-30" || d == "2026-09-02") && i%3 == 0 {
			w.credit(c, 1)
			late = append(late, d)
		}
	}
	w.flush()
	if len(late) == 0 {
		t.Fatal("no conversion re-attributed")
	}
	valid := validDays(t, conn, db, rollup.KindCredits)
	if strings.Contains(strings.Join(valid, " "), "2026-08-30") || strings.Contains(strings.Join(valid, " "), "2026-09-02") || len(valid) != 4 {
		t.Fatalf("valid credit days after writes into 2026-08-30 and 2026-09-02: %v, want the 4 others", valid)
	}
	check(t, conn, db, "after re-attributions into rolled-up days")

	// A replay after a crash writes the same rows again.
	for i := range convs {
		if c := &convs[i]; i%7 == 0 {
			w.credit(c, c.versions-1)
		}
	}
	w.flush()
	check(t, conn, db, "after a replay of the same rows")

	res, err = rollup.Run(ctx, conn, rollup.Options{Database: db, Cluster: cluster, Quiet: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.CreditDays < 2 {
		t.Fatalf("run after the writes rolled up %d credit days, want at least the 2 written", res.CreditDays)
	}
	check(t, conn, db, "after the run that follows the writes")
	if got := validDays(t, conn, db, rollup.KindCredits); len(got) != 6 {
		t.Fatalf("valid credit days after the second run: %v, want all 6", got)
	}

	// A run that crashed after inserting its rows, before recording
	// them: a higher run_id, never recorded, doubled figures.
	for table, cols := range map[string]string{
		"credit_rollup":  "model, channel, source, medium, campaign, conversion_type, currency, conversions, revenue_micros, credited_rows",
		"channel_rollup": "model, channel, campaign, conversions, revenue_micros, converting_users",
		"reach_rollup":   "channel, campaign, impressions, clicks, users_reached, cost_micros",
	} {
		if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %[1]s.%[2]s (date, run_id, %[3]s) SELECT date, run_id + 1000000000, %[3]s FROM %[1]s.%[2]s", db, table, cols)); err != nil {
			t.Fatal(err)
		}
	}
	check(t, conn, db, "beside a crashed run's rows")

	// Rows loaded by hand into a new day, which nothing marks: the views
	// read the day live at once (credit_days has it through its
	// materialized view), and the next run rolls it up.
	if err := conn.Exec(ctx, "INSERT INTO "+db+".attributed_conversions (conversion_id, conversion_type, user_key, currency, conversion_ts_ms, conversion_date, version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros) "+
		"SELECT concat(conversion_id, '-hand'), conversion_type, user_key, currency, conversion_ts_ms + 864000000, toDate('2026-09-13'), version, revenue_micros, path_length, touchpoint_ids, channels, sources, mediums, campaigns, interactions, touchpoint_ts_ms, models, fit_ids, credit_fractions, credit_micros "+
		"FROM "+db+".attributed_conversions FINAL WHERE conversion_date = '2026-09-03'"); err != nil {
		t.Fatal(err)
	}
	check(t, conn, db, "after rows loaded by hand into a new day")
	if res, err = rollup.Run(ctx, conn, rollup.Options{Database: db}); err != nil || res.CreditDays != 1 {
		t.Fatalf("run after the hand load: %+v, %v; want the new day rolled up", res, err)
	}
	check(t, conn, db, "after the hand-loaded day is rolled up")

	// A forced re-run of a range, twice.
	for range 2 {
		res, err = rollup.Run(ctx, conn, rollup.Options{Database: db, Cluster: cluster, RedoFrom: start, RedoTo: start.AddDate(0, 0, 3)})
		if err != nil {
			t.Fatal(err)
		}
		if res.CreditDays != 4 {
			t.Fatalf("redo of 4 days rolled up %d credit days", res.CreditDays)
		}
		check(t, conn, db, "after a forced re-run")
	}
}

// check compares the rolled-up views with the unfolded rows.
func check(t *testing.T, conn driver.Conn, db, stage string) {
	t.Helper()
	checkViews(t, conn, db, stage)
}

// syncReplicas waits until the node of conn holds every part its replicated
// tables of db were sent.
func syncReplicas(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT table FROM system.replicas WHERE database = ?", db)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var tb string
		if err := rows.Scan(&tb); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	rows.Close()
	for _, tb := range tables {
		if err := conn.Exec(context.Background(), "SYSTEM SYNC REPLICA "+db+"."+tb); err != nil {
			t.Fatalf("sync replica %s: %v", tb, err)
		}
	}
}

func checkViews(t *testing.T, conn driver.Conn, db, stage string) {
	t.Helper()
	compare(t, conn, stage+": credited_daily",
		"SELECT toString(date), model, channel, source, medium, campaign, conversion_type, currency, conversions, revenue_micros, credited_rows FROM "+db+".credited_daily",
		"SELECT toString(conversion_date), model, channel, source, medium, campaign, conversion_type, currency, sum(credit), toInt64(sum(revenue_micros)), count() FROM "+db+".credited_conversions GROUP BY conversion_date, model, channel, source, medium, campaign, conversion_type, currency")
	compare(t, conn, stage+": channel_credits_daily",
		"SELECT toString(date), model, channel, campaign, conversions, revenue_micros, converting_users FROM "+db+".channel_credits_daily",
		"SELECT toString(conversion_date), model, channel, campaign, sum(credit), toInt64(sum(revenue_micros)), toUInt64(uniqExactIf(user_key, credit > 0)) FROM "+db+".credited_conversions GROUP BY conversion_date, model, channel, campaign")
	compare(t, conn, stage+": reach_daily",
		"SELECT toString(date), channel, campaign, impressions, clicks, users_reached, cost_micros FROM "+db+".reach_daily",
		"SELECT toString(event_date), channel, campaign, toUInt64(countIf(interaction = 'impression')), toUInt64(countIf(interaction = 'click')), toUInt64(uniqExact(user_key)), toInt64(sum(toInt64(floor(cost * 1000000 + 0.5)))) FROM "+db+".touchpoints FINAL GROUP BY event_date, channel, campaign")
	var cols, ref []string
	for _, m := range []string{"last_click", "first_click", "linear", "time_decay", "position_based", "last_non_direct"} {
		cols = append(cols, m+"_conversions", "toInt64(round("+m+"_revenue * 1000000))")
		ref = append(ref, "sumIf(credit, model = '"+m+"')", "toInt64(sumIf(revenue_micros, model = '"+m+"'))")
	}
	compare(t, conn, stage+": model_comparison",
		"SELECT toString(date), channel, "+strings.Join(cols, ", ")+" FROM "+db+".model_comparison",
		"SELECT toString(conversion_date), channel, "+strings.Join(ref, ", ")+" FROM "+db+".credited_conversions GROUP BY conversion_date, channel")
	// channel_performance: its credited columns where the model credited
	// something, its reach columns where touchpoints were.
	compare(t, conn, stage+": channel_performance (credited)",
		"SELECT toString(date), model, channel, campaign, conversions, revenue_micros, converting_users FROM "+db+".channel_performance WHERE (date, model, channel, campaign) IN (SELECT conversion_date, model, channel, campaign FROM "+db+".credited_conversions)",
		"SELECT toString(conversion_date), model, channel, campaign, sum(credit), toInt64(sum(revenue_micros)), toUInt64(uniqExactIf(user_key, credit > 0)) FROM "+db+".credited_conversions GROUP BY conversion_date, model, channel, campaign")
	compare(t, conn, stage+": channel_performance (reach, linear)",
		"SELECT toString(date), channel, campaign, impressions, clicks, users_reached FROM "+db+".channel_performance WHERE model = 'linear' AND (date, channel, campaign) IN (SELECT event_date, channel, campaign FROM "+db+".touchpoints)",
		"SELECT toString(event_date), channel, campaign, toUInt64(countIf(interaction = 'impression')), toUInt64(countIf(interaction = 'click')), toUInt64(uniqExact(user_key)) FROM "+db+".touchpoints FINAL GROUP BY event_date, channel, campaign")
	var rows, want uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".channel_performance").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	q := "SELECT count() FROM (SELECT conversion_date AS d, model, channel, campaign FROM " + db + ".credited_conversions GROUP BY d, model, channel, campaign UNION ALL SELECT event_date AS d, arrayJoin(['last_click', 'first_click', 'linear', 'time_decay', 'position_based', 'last_non_direct']) AS model, channel, campaign FROM " + db + ".touchpoints GROUP BY d, model, channel, campaign) GROUP BY d, model, channel, campaign"
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM ("+q+")").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if rows != want {
		t.Errorf("%s: channel_performance has %d rows, want %d (every credited or reached day, model, channel, campaign)", stage, rows, want)
	}
}

// compare runs two queries whose rows are a key of strings then numbers,
// and reports every difference: integers must be equal, floats within a
// millionth.
func compare(t *testing.T, conn driver.Conn, what, gotSQL, wantSQL string) {
	t.Helper()
	got, want := readRows(t, conn, gotSQL), readRows(t, conn, wantSQL)
	if len(want) == 0 {
		t.Fatalf("%s: the reference is empty", what)
	}
	bad := 0
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: row %s missing (want %v)", what, k, w)
			bad++
		} else if !sameNumbers(g, w) {
			t.Errorf("%s: row %s: got %v, want %v", what, k, g, w)
			bad++
		}
		if bad > 5 {
			t.Fatalf("%s: more differences left out", what)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra row %s: %v", what, k, g)
		}
	}
}

func sameNumbers(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch x := a[i].(type) {
		case float64:
			if math.Abs(x-b[i].(float64)) > 1e-6 {
				return false
			}
		default:
			if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
				return false
			}
		}
	}
	return true
}

// readRows reads rows whose leading String columns are the key.
func readRows(t *testing.T, conn driver.Conn, sql string) map[string][]any {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	out := map[string][]any{}
	types := rows.ColumnTypes()
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			switch ct.DatabaseTypeName() {
			case "String":
				dest[i] = new(string)
			case "Float64":
				dest[i] = new(float64)
			case "Int64":
				dest[i] = new(int64)
			case "UInt64":
				dest[i] = new(uint64)
			default:
				t.Fatalf("column %s: type %s", ct.Name(), ct.DatabaseTypeName())
			}
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		var key []string
		var nums []any
		for _, d := range dest {
			switch v := d.(type) {
			case *string:
				key = append(key, *v)
			case *float64:
				nums = append(nums, *v)
			case *int64:
				nums = append(nums, *v)
			case *uint64:
				nums = append(nums, *v)
			}
		}
		k := strings.Join(key, "|")
		if _, dup := out[k]; dup {
			t.Fatalf("duplicate row %s in %s", k, sql)
		}
		out[k] = nums
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func validDays(t *testing.T, conn driver.Conn, db, kind string) []string {
	t.Helper()
	return validDaysOf(t, conn, db, kind)
}

func validDaysOf(t *testing.T, conn driver.Conn, db, kind string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT toString(date) FROM "+db+".rollup_valid_days WHERE kind = ? ORDER BY date", kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func day(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.DateOnly) }

// conv is a generated conversion: its full path, of which the first
// version sees all but the last touchpoint when it has a late one.
type conv struct {
	id, user, typ string
	timeMs        int64
	revenue       int64
	path          []attribution.Touchpoint
	versions      int
}

func generate(n int, start time.Time, days int) []conv {
	rng := rand.New(rand.NewPCG(13, 7))
	channels := []string{"paid_search", "email", "display", "organic_search", "direct", "paid_social"}
	campaigns := []string{"", "spring", "brand", "retarget"}
	out := make([]conv, n)
	for i := range out {
		c := &out[i]
		c.id = fmt.Sprintf("c%05d", i)
		c.user = fmt.Sprintf("u%04d", rng.IntN(n/2))
		c.typ = []string{"purchase", "signup"}[rng.IntN(2)]
		c.timeMs = start.UnixMilli() + rng.Int64N(int64(days)*86_400_000)
		c.revenue = rng.Int64N(500_000_000)
		c.versions = 1
		k := rng.IntN(5) // 0 to 4 touchpoints, the last maybe late
		for j := range k {
			c.path = append(c.path, attribution.Touchpoint{
				ID:         fmt.Sprintf("%s-t%d", c.id, j),
				TimeMs:     c.timeMs - int64(k-j)*3_600_000 - rng.Int64N(3_000_000),
				Impression: rng.IntN(4) == 0,
				Channel:    channels[rng.IntN(len(channels))],
				Source:     "src" + fmt.Sprint(rng.IntN(3)),
				Medium:     "med" + fmt.Sprint(rng.IntN(2)),
				Campaign:   campaigns[rng.IntN(len(campaigns))],
			})
		}
		if k > 0 {
			c.versions = 2
		}
	}
	return out
}

// writer credits conversions with the engine and writes them through the
// attributor's sink, as the shards hand them over.
type writer struct {
	t      *testing.T
	eng    *attribution.Engine
	models []string
	s      *sink.Sink
	ctx    context.Context
	runErr chan error
	seq    uint64
	u      *flow.Unit
	res    attribution.Result
}

type noDLQ struct{}

func (noDLQ) WriteMessages(context.Context, ...kafka.Message) error { return nil }

func newWriter(t *testing.T, conn driver.Conn, db string) *writer {
	eng, err := attribution.NewEngine(attribution.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{t: t, eng: eng, u: flow.GetUnit(), runErr: make(chan error, 1)}
	for _, m := range eng.Models() {
		w.models = append(w.models, m.Name())
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w.ctx = ctx
	w.s = sink.New(conn, noDLQ{}, sink.Config{Database: db, Shards: 1}.WithDefaults(), &flow.Stats{})
	go func() { w.runErr <- w.s.Run(ctx) }()
	return w
}

// credit writes version k of c: version 0 sees the path without its last
// touchpoint when c has two versions, version 1 the whole path (the late
// touchpoint is written with it).
func (w *writer) credit(c *conv, k int) {
	path := c.path
	if c.versions == 2 && k == 0 {
		path = path[:len(path)-1]
	}
	w.eng.Attribute(attribution.Conversion{ID: c.id, TimeMs: c.timeMs, RevenueMicros: c.revenue}, path, attribution.NoReset, &w.res)
	cr := &w.u.Credits
	cr.Models = w.models
	cr.Sets = append(cr.Sets, flow.CreditSet{
		ConversionID: c.id, ConversionType: c.typ, UserKey: c.user, Currency: "EUR",
		TimeMs: c.timeMs, Version: uint32(1 + len(path)),
		Path: uint32(len(cr.Path)), PathLen: uint32(len(w.res.Path)),
		Cells: uint32(len(cr.Cells)), CellsLen: uint32(len(w.res.Credits)),
	})
	cr.Path = append(cr.Path, w.res.Path...)
	for _, r := range w.res.Credits {
		cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: r.Fraction, Revenue: r.RevenueMicros, Position: uint32(r.Position), Model: uint16(r.Model)})
	}
	for _, tp := range path {
		inter := schemas.InteractionClick
		if tp.Impression {
			inter = schemas.InteractionImpression
		}
		w.u.TPs = append(w.u.TPs, flow.TPRow{TP: schemas.Touchpoint{EventID: tp.ID, UserID: c.user, TimeMs: tp.TimeMs,
			Interaction: inter, Channel: tp.Channel, Source: tp.Source, Medium: tp.Medium, Campaign: tp.Campaign, Cost: 0.25}, SessionStart: tp.TimeMs})
	}
	w.u.Convs = append(w.u.Convs, flow.ConvRow{CV: schemas.Conversion{EventID: c.id, UserID: c.user, TimeMs: c.timeMs,
		ConversionType: c.typ, RevenueMicros: c.revenue, Currency: "EUR"}})
}

// flush sends what was credited and returns once it is durable (marks
// included).
// creditLatest credits every one of convs under its latest version, and
// flushes.
func (w *writer) creditLatest(convs []conv) {
	for i := range convs {
		w.credit(&convs[i], convs[i].versions-1)
	}
	w.flush()
}

func (w *writer) flush() {
	w.t.Helper()
	w.seq++
	if !w.s.Send(w.ctx, 0, w.seq, w.u) {
		w.t.Fatal("sink stopped")
	}
	w.u = flow.GetUnit()
	done := make(chan error, 1)
	w.s.In <- sink.Msg{Barrier: done}
	select {
	case err := <-done:
		if err != nil {
			w.t.Fatal(err)
		}
	case err := <-w.runErr:
		w.t.Fatalf("sink stopped: %v", err)
	}
}

// A run stopped part way (its context cancelled mid-statement, as a
// killed `attributor rollup` would be) leaves the views exact, whatever it
// had inserted or recorded; the next run completes the days.
func TestRollupStoppedPartWay(t *testing.T) {
	env, ctx, w := migratedEnv(t)
	db := env.Database
	w.creditLatest(generate(3000, time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC), 20))
	for _, after := range []time.Duration{1200 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second} {
		stopped, stop := context.WithTimeout(ctx, after)
		_, err := rollup.Run(stopped, env.CH, rollup.Options{Database: db, Quiet: -1, DaysPerStatement: 2})
		stop()
		t.Logf("run stopped after %s: %v; valid days now %d", after, err, len(validDays(t, env.CH, db, rollup.KindCredits)))
		check(t, env.CH, db, fmt.Sprintf("after a run stopped after %s", after))
	}
	if _, err := rollup.Run(ctx, env.CH, rollup.Options{Database: db, Quiet: -1}); err != nil {
		t.Fatal(err)
	}
	if got := validDays(t, env.CH, db, rollup.KindCredits); len(got) != 20 {
		t.Fatalf("valid credit days after a complete run: %d, want 20", len(got))
	}
	check(t, env.CH, db, "after a complete run")
}

// On a cluster, the same: runs stopped part way (mid-statement, maybe mid
// quorum insert) leave the views exact through every node, and the next run
// completes the days.
func TestClusterRollupStoppedPartWay(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	db, conn := c.Database, c.Conns[0]
	if err := migrate.MigrateCluster(ctx, conn, db, c.Name); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, conn, db)
	w.creditLatest(generate(3000, time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC), 20))
	checkAll := func(stage string) {
		t.Helper()
		for i, r := range c.Conns {
			syncReplicas(t, r, db)
			checkViews(t, r, db, fmt.Sprintf("%s (through %s)", stage, c.Nodes[i]))
		}
	}
	for _, after := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		stopped, stop := context.WithTimeout(ctx, after)
		_, err := rollup.Run(stopped, conn, rollup.Options{Database: db, Cluster: c.Name, Quiet: -1, DaysPerStatement: 2})
		stop()
		t.Logf("run stopped after %s: %v; valid days now %d", after, err, len(validDays(t, conn, db, rollup.KindCredits)))
		checkAll(fmt.Sprintf("after a run stopped after %s", after))
	}
	if _, err := rollup.Run(ctx, conn, rollup.Options{Database: db, Cluster: c.Name, Quiet: -1}); err != nil {
		t.Fatal(err)
	}
	if got := validDays(t, conn, db, rollup.KindCredits); len(got) != 20 {
		t.Fatalf("valid credit days after a complete run: %d, want 20", len(got))
	}
	checkAll("after a complete run")
}

// migratedEnv returns a fresh database at the current schema, a context
// bounding the test, and a writer through the sink.
func migratedEnv(t *testing.T) (*pipelinetest.Env, context.Context, *writer) {
	t.Helper()
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if err := migrate.Migrate(ctx, env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	return env, ctx, newWriter(t, env.CH, env.Database)
}

// slowRecord is a connection whose run records take a second on the server
// and whose caller is stopped 200 ms into one: a run stopped while the
// server is still recording it (a deadline, a killed process).
type slowRecord struct {
	driver.Conn
	stop context.CancelFunc
}

func (c slowRecord) Exec(ctx context.Context, query string, args ...any) error {
	if strings.HasPrefix(query, "INSERT INTO") && strings.Contains(query, ".rollup_runs ") {
		query += " WHERE sleep(1) = 0"
		time.AfterFunc(200*time.Millisecond, c.stop)
	}
	return c.Conn.Exec(ctx, query, args...)
}

// A run stopped while its record is under way on the server returns only
// once the record is settled: the days valid when it returns stay so, and
// the views read after it are exact (before, the record landed up to a
// second after the run returned, and a view read meanwhile missed days).
func TestRollupStoppedWhileRecording(t *testing.T) {
	env, ctx, w := migratedEnv(t)
	db := env.CH
	w.creditLatest(generate(300, time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC), 4))
	stopped, stop := context.WithCancel(ctx)
	_, err := rollup.Run(stopped, slowRecord{Conn: db, stop: stop}, rollup.Options{Database: env.Database, Quiet: -1, DaysPerStatement: 2})
	stop()
	if err == nil {
		t.Fatal("run stopped while recording returned no error")
	}
	before := validDays(t, db, env.Database, rollup.KindCredits)
	check(t, db, env.Database, "right after a run stopped while recording")
	time.Sleep(1500 * time.Millisecond)
	if after := validDays(t, db, env.Database, rollup.KindCredits); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("valid credit days changed after the stopped run returned: %v, then %v (err %v)", before, after, err)
	}
	check(t, db, env.Database, "after a run stopped while recording")
}
