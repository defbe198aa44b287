package report

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/fit"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

// Environment of the tests, as in pipeline/pipelinetest.
const (
	envClickHouse = "ATTRIBUTOR_TEST_CLICKHOUSE"  // native address, default 127.0.0.1:9000
	envRequire    = "ATTRIBUTOR_REQUIRE_SERVICES" // "1": a missing ClickHouse fails instead of skipping
	envKeep       = "ATTRIBUTOR_TEST_KEEP"        // set: keep the test database for inspection
)

// The generated traffic: two weeks over a month boundary, so that the data
// have several days (date filters), two months (cohorts) and journeys that
// take days.
var trafficConfig = generate.Config{
	Seed:     20261127,
	Users:    2500,
	Start:    time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC),
	Duration: 14 * 24 * time.Hour,
}

// fixture is a database loaded with known data, and those data.
type fixture struct {
	conn driver.Conn
	db   string

	// What the views must see: the raw events deduplicated as FINAL does,
	// the current credited rows (replay's) and the current ad spend.
	touchpoints []schemas.Touchpoint
	conversions []schemas.Conversion
	credited    []schemas.CreditedRow
	spend       []schemas.AdSpend
	fitIDs      map[string]string // model -> id of its newest stored fit

	// ghost is a spend row for a channel without touchpoints.
	ghost schemas.AdSpend
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
	fixtureErr  error
	fixtureSkip string
)

// loadedFixture returns the shared fixture, loading it on first use. It
// skips t when ClickHouse does not answer (fails with envRequire=1).
func loadedFixture(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		addr := os.Getenv(envClickHouse)
		if addr == "" {
			addr = "127.0.0.1:9000"
		}
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second, ReadTimeout: time.Minute})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = conn.Ping(ctx)
			cancel()
		}
		if err != nil {
			fixtureSkip = fmt.Sprintf("ClickHouse %s (%s) does not answer: %v", addr, envClickHouse, err)
			return
		}
		theFixture, fixtureErr = newFixture(conn)
		if fixtureErr != nil {
			conn.Close()
		}
	})
	if fixtureSkip != "" {
		if os.Getenv(envRequire) == "1" {
			t.Fatalf("%s=1: %s", envRequire, fixtureSkip)
		}
		t.Skipf("skipping: %s (start it with scripts/services.sh up)", fixtureSkip)
	}
	if fixtureErr != nil {
		t.Fatalf("load the fixture: %v", fixtureErr)
	}
	return theFixture
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theFixture != nil {
		if os.Getenv(envKeep) != "" {
			fmt.Fprintf(os.Stderr, "%s set: keeping database %s\n", envKeep, theFixture.db)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			theFixture.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+theFixture.db)
			cancel()
		}
		theFixture.conn.Close()
	}
	os.Exit(code)
}

func newFixture(conn driver.Conn) (_ *fixture, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rnd [4]byte
	rand.Read(rnd[:])
	f := &fixture{conn: conn, db: "t_report_" + hex.EncodeToString(rnd[:])}
	defer func() {
		if err != nil {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+f.db)
		}
	}()
	if err := pipeline.Migrate(ctx, conn, f.db); err != nil {
		return nil, err
	}

	// The events, in stream order, as NDJSON for replay and decoded for
	// the raw tables (duplicates included: the views must read FINAL).
	var tpLines, cvLines bytes.Buffer
	var rawTps []schemas.Touchpoint
	var rawCvs []schemas.Conversion
	dec := schemas.NewDecoder(nil)
	walkIns := walkInConversions()
	conversion := func(v []byte) error {
		cv, err := dec.Conversion(v)
		if err != nil {
			return err
		}
		// The walk-ins join the stream in time order.
		for len(walkIns) > 0 {
			w, _ := dec.Conversion(walkIns[0])
			if w.TimeMs > cv.TimeMs {
				break
			}
			rawCvs = append(rawCvs, w)
			cvLines.Write(walkIns[0])
			cvLines.WriteByte('\n')
			walkIns = walkIns[1:]
		}
		rawCvs = append(rawCvs, cv)
		cvLines.Write(v)
		cvLines.WriteByte('\n')
		return nil
	}
	err = generate.Generate(trafficConfig, func(k generate.Kind, _ string, v []byte) error {
		if k == generate.Conversion {
			return conversion(v)
		}
		tp, err := dec.Touchpoint(v)
		if err != nil {
			return err
		}
		rawTps = append(rawTps, tp)
		tpLines.Write(v)
		tpLines.WriteByte('\n')
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	f.touchpoints = dedupe(rawTps, func(t *schemas.Touchpoint) string { return fmt.Sprint(t.Key(), t.TimeMs, t.EventID) })
	f.conversions = dedupe(rawCvs, func(c *schemas.Conversion) string { return fmt.Sprint(c.Key(), c.TimeMs, c.EventID) })
	if len(walkIns) > 0 {
		return nil, fmt.Errorf("%d walk-in conversions after the traffic", len(walkIns))
	}
	if len(f.touchpoints) == len(rawTps) || len(f.conversions) == len(rawCvs) {
		return nil, fmt.Errorf("the traffic has no duplicates: FINAL would go untested")
	}

	_, err = replay.Run(ctx, replay.Config{}, replay.Input{Name: "touchpoints", R: &tpLines}, replay.Input{Name: "conversions", R: &cvLines},
		replay.RowSinkFunc(func(r *schemas.CreditedRow) error { f.credited = append(f.credited, *r); return nil }), io.Discard)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}

	if err := f.insertTouchpoints(ctx, rawTps); err != nil {
		return nil, err
	}
	if err := f.insertConversions(ctx, rawCvs); err != nil {
		return nil, err
	}
	if err := f.insertCredits(ctx); err != nil {
		return nil, err
	}
	if err := f.insertSpend(ctx); err != nil {
		return nil, err
	}
	if err := f.storeFits(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// storeFits fits markov (twice: the report shows the newer) and shapley on
// the fixture's raw tables and stores them; f.fitIDs holds the newest.
func (f *fixture) storeFits(ctx context.Context) error {
	var to int64
	for _, tp := range f.touchpoints {
		to = max(to, tp.TimeMs+1)
	}
	paths, err := fit.Paths(ctx, f.conn, f.db, attribution.Config{}, to-30*24*3600_000, to)
	if err != nil {
		return err
	}
	m, err := attribution.FitMarkov(paths, 1)
	if err != nil {
		return err
	}
	sh, err := attribution.FitShapley(paths)
	if err != nil {
		return err
	}
	old := *m
	old.ID = "markov-older"
	f.fitIDs = map[string]string{}
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, ft := range []fit.Fit{{Markov: &old}, {Markov: m}, {Shapley: sh}} {
		id, err := fit.Store(ctx, f.conn, f.db, ft, created.Add(time.Duration(i)*time.Hour))
		if err != nil {
			return err
		}
		f.fitIDs[map[bool]string{true: "markov", false: "shapley"}[ft.Markov != nil]] = id
	}
	return nil
}

// walkInConversions are conversions of users without any touchpoint, in
// time order inside the traffic: they are credited to channel (none).
func walkInConversions() [][]byte {
	var out [][]byte
	for i := 0; i < 6; i++ {
		at := trafficConfig.Start.Add(time.Duration(i)*49*time.Hour + 5*time.Hour)
		out = append(out, fmt.Appendf(nil, `{"event_id":"walk-in-%d","user_id":"walk-in-%d","timestamp":%q,"revenue":%d.25,"currency":"EUR"}`,
			i, i, at.Format(time.RFC3339), 10+i))
	}
	return out
}

// dedupe keeps the first of the values with the same key, in order.
func dedupe[T any](in []T, key func(*T) string) []T {
	seen := map[string]bool{}
	var out []T
	for i := range in {
		k := key(&in[i])
		if !seen[k] {
			seen[k] = true
			out = append(out, in[i])
		}
	}
	return out
}

func dayOf(ms int64) time.Time {
	t := time.UnixMilli(ms).UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (f *fixture) insert(ctx context.Context, table, columns string, n int, row func(i int) []any) error {
	batch, err := f.conn.PrepareBatch(ctx, "INSERT INTO "+f.db+"."+table+" ("+columns+")")
	if err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	for i := 0; i < n; i++ {
		if err := batch.Append(row(i)...); err != nil {
			batch.Abort()
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	return nil
}

// insertTouchpoints writes the raw touchpoints, duplicates included, in two
// inserts so that the copies land in different parts.
func (f *fixture) insertTouchpoints(ctx context.Context, tps []schemas.Touchpoint) error {
	const cols = "event_id, user_key, user_id, anonymous_id, ts_ms, event_date, interaction, channel, source, medium, campaign, cost, session_start_ms, kafka_partition"
	half := len(tps) / 2
	for _, part := range [][]schemas.Touchpoint{tps[:half], tps[half:], tps[:half/10]} {
		err := f.insert(ctx, "touchpoints", cols, len(part), func(i int) []any {
			t := &part[i]
			return []any{t.EventID, t.Key(), t.UserID, t.AnonymousID, t.TimeMs, dayOf(t.TimeMs), t.Interaction,
				t.Channel, t.Source, t.Medium, t.Campaign, t.Cost, t.TimeMs, int32(0)}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *fixture) insertConversions(ctx context.Context, cvs []schemas.Conversion) error {
	const cols = "event_id, user_key, user_id, anonymous_id, ts_ms, event_date, conversion_type, revenue_micros, currency, kafka_partition"
	for _, part := range [][]schemas.Conversion{cvs, cvs[:len(cvs)/10]} {
		err := f.insert(ctx, "conversions", cols, len(part), func(i int) []any {
			c := &part[i]
			return []any{c.EventID, c.Key(), c.UserID, c.AnonymousID, c.TimeMs, dayOf(c.TimeMs), c.ConversionType, c.RevenueMicros, c.Currency, int32(0)}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// insertCredits writes replay's rows as compact rows of version 2, some of
// them twice, and before them a stale version 1 of every tenth conversion
// that credits everything, twice over, to a channel that does not exist:
// only a view that reads the current rows gets the figures right.
func (f *fixture) insertCredits(ctx context.Context) error {
	current, err := schemas.Compact(f.credited, 2)
	if err != nil {
		return err
	}
	var stale []schemas.CompactRow
	for k, c := range current {
		if k%10 != 0 {
			continue
		}
		s := c
		s.Version = 1
		s.TouchpointIDs, s.Channels, s.Sources, s.Mediums = []string{"stale"}, []string{"stale"}, []string{""}, []string{""}
		s.Campaigns, s.Interactions, s.TouchpointTimesMs = []string{"stale"}, []string{"click"}, []int64{c.ConversionTimeMs}
		s.Fractions, s.Micros = nil, nil
		for range s.Models {
			s.Fractions, s.Micros = append(s.Fractions, 2), append(s.Micros, 2*c.RevenueMicros)
		}
		stale = append(stale, s)
	}
	again := current[:len(current)/5]
	for _, part := range [][]schemas.CompactRow{stale, current, again} {
		if err := f.insert(ctx, "attributed_conversions", schemas.CompactColumns, len(part), func(i int) []any { return part[i].Values() }); err != nil {
			return err
		}
	}
	return nil
}

// insertSpend feeds spend for paid_search on every day and campaign it has
// touchpoints, except its first day (which keeps the touchpoint costs),
// plus a channel without touchpoints. Every row is first sent with a wrong
// cost, then replaced under the same event_id: the views must read FINAL.
func (f *fixture) insertSpend(ctx context.Context) error {
	type dc struct {
		day      time.Time
		campaign string
	}
	seen := map[dc]bool{}
	var keys []dc
	first := time.Time{}
	for _, t := range f.touchpoints {
		if t.Channel != schemas.ChannelPaidSearch {
			continue
		}
		k := dc{dayOf(t.TimeMs), t.Campaign}
		if first.IsZero() || k.day.Before(first) {
			first = k.day
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].day.Equal(keys[j].day) {
			return keys[i].day.Before(keys[j].day)
		}
		return keys[i].campaign < keys[j].campaign
	})
	var wrong []schemas.AdSpend
	for i, k := range keys {
		if k.day.Equal(first) {
			continue
		}
		// Two rows per key, one per source, as an ad platform export has.
		for j, src := range []string{"google", "bing"} {
			s := schemas.AdSpend{
				EventID: fmt.Sprintf("feed-%d-%d", i, j), Date: k.day, Channel: schemas.ChannelPaidSearch,
				Source: src, Medium: "cpc", Campaign: k.campaign, CostMicros: int64(100_000_000 + 1_234_567*i + 7*j), Currency: "EUR",
			}
			f.spend = append(f.spend, s)
			s.CostMicros = 999_000_000_000
			wrong = append(wrong, s)
		}
	}
	f.ghost = schemas.AdSpend{EventID: "feed-tv", Date: trafficConfig.Start.AddDate(0, 0, 3), Channel: "tv", Campaign: "launch", CostMicros: 5_000_000_000, Currency: "EUR"}
	f.spend = append(f.spend, f.ghost)
	if err := pipeline.InsertSpend(ctx, f.conn, f.db, wrong, "topic"); err != nil {
		return err
	}
	return pipeline.InsertSpend(ctx, f.conn, f.db, f.spend, "topic")
}

// replaceDB puts the database name into SQL written with {db}.
func replaceDB(sql, db string) string { return strings.ReplaceAll(sql, "{db}", db) }
