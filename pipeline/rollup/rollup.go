// Package rollup aggregates whole UTC days of the current credited rows and
// of the touchpoints into the rollup tables (schemas/clickhouse/
// 008_rollups.sql) that the aggregate views read (011_rollup_views.sql):
// what makes channel_performance, model_comparison and credited_daily fast
// at millions of conversions.
//
// A run is idempotent by construction. It reads the server's clock (the
// run's start), aggregates each day it picks from attributed_conversions
// FINAL (or touchpoints FINAL, read through touchpoints_by_day, the same
// rows sorted by day) into rows tagged with its run_id, and only
// then records the day in rollup_runs. The views read a day from the
// rollup only through its latest recorded run, and only while that run
// started after the day's latest mark (the sink marks a day after each
// acknowledged write into it): a run that crashes before recording leaves
// rows no view reads, a second run replaces the first instead of adding to
// it, and a write after the run's read sends the day back to the live rows
// until the next run. Rows of runs superseded by a recorded one are
// deleted (an ALTER ... DELETE, which ClickHouse applies in the
// background).
package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/schemas"
)

// recordTimeout bounds a run's record of its days (a small insert), which
// a stopped run still waits for (rollDays).
const recordTimeout = time.Minute

// The kinds of rollup_marks and rollup_runs.
const (
	KindCredits     = "credits"     // attributed_conversions by conversion_date
	KindTouchpoints = "touchpoints" // touchpoints by event_date
)

// DefaultQuiet is how long a day must have gone without a write before a
// run rolls it up (Options.Quiet).
const DefaultQuiet = 10 * time.Minute

// Options configure a run.
type Options struct {
	Database string // where the tables are (a valid identifier)
	// Quiet: a day is rolled up once its latest mark is at least this old,
	// so that a day still being written (today, a day receiving
	// re-attributions) is not aggregated again at every run: the views
	// read it live meanwhile. Default DefaultQuiet; negative: 0 (every
	// day not validly rolled up, however recent its last write).
	Quiet time.Duration
	// Redo, when From is set, rolls up the days in [From, To] (UTC dates,
	// inclusive) again whatever their state: it marks them first, so the
	// views read them live until the new run is recorded. For rows
	// written into attributed_conversions or touchpoints by anything but
	// the attributor (which marks what it writes), e.g. a backfill loaded
	// by hand.
	RedoFrom, RedoTo time.Time
	// DaysPerStatement bounds the days one INSERT ... SELECT aggregates
	// (its memory is the groups of those days; its time, at about 100k
	// conversions a day, a few seconds per day on 18.16). Default 7.
	DaysPerStatement int
	// Cluster names the ClickHouse cluster (remote_servers) the database
	// is on (migrate --cluster), "" for a single server. On a cluster the
	// days are aggregated through the Distributed tables, never from a
	// replica further behind its shard than Quiet (at least a second), so
	// that a day quiet for Quiet has all its rows on the replica read; the
	// rollup rows and the run's record are written with a quorum of every
	// node (the tables are replicated to every node), so that a node that
	// sees the run holds its rows. A node down fails the run (the views
	// read the days live meanwhile); the next run completes them.
	Cluster string
	Logger  *slog.Logger // Default: discard.
}

// Result says what a run did.
type Result struct {
	RunID          uint64
	CreditDays     int // days of credits rolled up
	TouchpointDays int // days of touchpoints rolled up
	Elapsed        time.Duration
}

// Run rolls up every day of credits and of touchpoints that no valid run
// covers and whose latest write is at least Quiet old. It may run
// beside the attributor and beside other runs: see the package comment.
func Run(ctx context.Context, conn driver.Conn, o Options) (Result, error) {
	began := time.Now()
	if err := schemas.ValidIdentifier(o.Database); err != nil {
		return Result{}, fmt.Errorf("rollup: database: %w", err)
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultQuiet
	}
	if o.Quiet < 0 {
		o.Quiet = 0
	}
	if o.DaysPerStatement <= 0 {
		o.DaysPerStatement = 7
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	db := o.Database
	if o.Cluster != "" {
		var err error
		if ctx, err = clusterContext(ctx, conn, o.Cluster, o.Quiet); err != nil {
			return Result{}, err
		}
	}
	if !o.RedoFrom.IsZero() {
		if o.RedoTo.Before(o.RedoFrom) {
			return Result{}, fmt.Errorf("rollup: redo range ends (%s) before it starts (%s)", day(o.RedoTo), day(o.RedoFrom))
		}
		if err := markRange(ctx, conn, db, o.RedoFrom, o.RedoTo); err != nil {
			return Result{}, err
		}
	}
	started, err := serverNow(ctx, conn)
	if err != nil {
		return Result{}, err
	}
	{
		// The marks written so far (the redo's, the sink's) carry the
		// server's now() at their insert, at most started; the run
		// starts in a later second, or they would invalidate it.
		marked := started.Unix()
		for started.Unix() <= marked {
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if started, err = serverNow(ctx, conn); err != nil {
				return Result{}, err
			}
		}
	}
	res := Result{RunID: uint64(started.Unix())*1_000_000 + rand.Uint64N(1_000_000)}
	for _, k := range kinds {
		days, err := pending(ctx, conn, db, k, started, o.Quiet, o.RedoFrom, o.RedoTo)
		if err != nil {
			return res, err
		}
		for _, chunk := range chunks(days, o.DaysPerStatement) {
			if err := rollDays(ctx, conn, db, k, chunk, res.RunID, started); err != nil {
				return res, err
			}
			if k.name == KindCredits {
				res.CreditDays += len(chunk)
			} else {
				res.TouchpointDays += len(chunk)
			}
			o.Logger.Debug("rollup: days rolled up", "kind", k.name, "from", day(chunk[0]), "to", day(chunk[len(chunk)-1]), "run_id", res.RunID)
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// kind is what one kind of rollup reads and writes.
type kind struct {
	name    string
	table   string // the table its days come from
	dateCol string // that table's day column
	// inserts are the INSERT ... SELECT statements of a run over a set of
	// days: %[1]s the database, %[2]s the run_id, %[3]s the days as a
	// set of Date literals.
	inserts []string
	targets []string // the rollup tables they write
}

var kinds = []kind{
	{
		name: KindCredits, table: "attributed_conversions", dateCol: "conversion_date",
		inserts: []string{creditRollupSQL, channelRollupSQL},
		targets: []string{"credit_rollup", "channel_rollup"},
	},
	{
		name: KindTouchpoints, table: "touchpoints", dateCol: "event_date",
		inserts: []string{reachRollupSQL},
		targets: []string{"reach_rollup"},
	},
}

// unfoldSQL is credited_live's unfolding (011_rollup_views.sql) over the
// days %[3]s instead of the days not validly rolled up: the rows of
// credited_conversions with the columns the rollups group by.
const unfoldSQL = `
    SELECT
        conversion_date, conversion_type, currency, user_key, model, channel, source, medium, campaign, credit, revenue_micros
    FROM
    (
        SELECT
            conversion_date, conversion_type, currency, user_key, channel, source, medium, campaign, cl_models,
            arraySlice(cl_fractions, (cl_index - 1) * length(cl_models) + 1, length(cl_models)) AS cl_position_fractions,
            arraySlice(cl_micros, (cl_index - 1) * length(cl_models) + 1, length(cl_models)) AS cl_position_micros
        FROM
        (
            SELECT
                conversion_date, conversion_type, currency, user_key,
                if(path_length = 0, ['(none)'], channels) AS cl_channels,
                if(path_length = 0, [''], sources) AS cl_sources,
                if(path_length = 0, [''], mediums) AS cl_mediums,
                if(path_length = 0, [''], campaigns) AS cl_campaigns,
                models AS cl_models,
                credit_fractions AS cl_fractions,
                credit_micros AS cl_micros
            FROM %[1]s.attributed_conversions FINAL
            WHERE conversion_date IN %[3]s
        )
        ARRAY JOIN
            cl_channels AS channel, cl_sources AS source, cl_mediums AS medium, cl_campaigns AS campaign,
            arrayEnumerate(cl_channels) AS cl_index
    )
    ARRAY JOIN cl_models AS model, cl_position_fractions AS credit, cl_position_micros AS revenue_micros`

const creditRollupSQL = `INSERT INTO %[1]s.credit_rollup (date, run_id, model, channel, source, medium, campaign, conversion_type, currency, conversions, revenue_micros, credited_rows)
SELECT conversion_date, toUInt64(%[2]s), model, channel, source, medium, campaign, conversion_type, currency,
    toFloat64(sum(credit)), toInt64(sum(revenue_micros)), toUInt64(count())
FROM (` + unfoldSQL + `
)
GROUP BY conversion_date, model, channel, source, medium, campaign, conversion_type, currency`

const channelRollupSQL = `INSERT INTO %[1]s.channel_rollup (date, run_id, model, channel, campaign, conversions, revenue_micros, converting_users)
SELECT conversion_date, toUInt64(%[2]s), model, channel, campaign,
    toFloat64(sum(credit)), toInt64(sum(revenue_micros)), toUInt64(uniqExactIf(user_key, credit > 0))
FROM (` + unfoldSQL + `
)
GROUP BY conversion_date, model, channel, campaign`

const reachRollupSQL = `INSERT INTO %[1]s.reach_rollup (date, run_id, channel, campaign, impressions, clicks, users_reached, cost_micros)
SELECT event_date, toUInt64(%[2]s), channel, campaign,
    toUInt64(countIf(interaction = 'impression')), toUInt64(countIf(interaction = 'click')),
    toUInt64(uniqExact(user_key)), toInt64(sum(toInt64(floor(cost * 1000000 + 0.5))))
FROM %[1]s.touchpoints_by_day FINAL
WHERE event_date IN %[3]s
GROUP BY event_date, channel, campaign`

// pending returns the days of k that hold rows, are not validly rolled up
// and were last written (marked) before started - quiet (a mark in
// started's own second would invalidate the run), or are in the
// redo range [from, to] (when from is set), oldest first.
func pending(ctx context.Context, conn driver.Conn, db string, k kind, started time.Time, quiet time.Duration, from, to time.Time) ([]time.Time, error) {
	redo := "0"
	if !from.IsZero() {
		redo = fmt.Sprintf("d BETWEEN toDate('%s') AND toDate('%s')", day(from), day(to))
	}
	q := fmt.Sprintf(`SELECT d FROM (SELECT %[3]s AS d FROM %[1]s.%[2]s GROUP BY d)
WHERE d NOT IN (SELECT date FROM %[1]s.rollup_valid_days WHERE kind = '%[4]s')
  AND (%[6]s OR d NOT IN (SELECT date FROM %[1]s.rollup_marks WHERE kind = '%[4]s' GROUP BY date HAVING max(marked_at) >= toDateTime(%[5]d)))
ORDER BY d`, db, k.table, k.dateCol, k.name, started.Add(-quiet).Unix(), redo)
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("rollup: days of %s to roll up: %w", k.name, err)
	}
	defer rows.Close()
	var days []time.Time
	for rows.Next() {
		var d time.Time
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("rollup: days of %s to roll up: %w", k.name, err)
		}
		days = append(days, d.UTC())
	}
	return days, rows.Err()
}

// rollDays aggregates days (one statement per rollup table), records them
// as run runID, then deletes the rows of the runs it supersedes.
func rollDays(ctx context.Context, conn driver.Conn, db string, k kind, days []time.Time, runID uint64, started time.Time) error {
	set := dateSet(days)
	run := fmt.Sprint(runID)
	for i, ins := range k.inserts {
		if err := conn.Exec(ctx, fmt.Sprintf(ins, db, run, set)); err != nil {
			// Rows already inserted by this run are never read: the run
			// is not recorded. The next run redoes the days.
			return fmt.Errorf("rollup: insert into %s (%s to %s): %w", k.targets[i], day(days[0]), day(days[len(days)-1]), err)
		}
	}
	// INSERT ... SELECT: clickhouse-go sends an INSERT ... VALUES as a
	// batch, which Exec does not.
	//
	// The record is never abandoned mid-statement: a client that gives up
	// on it (ctx cancelled, its deadline passed) does not stop the server,
	// which completes the insert later, after Run returned an error, and
	// a view read meanwhile sees the days' validity change between its
	// rollup and live halves (days missing or counted twice). So the
	// record, and once it stands the deletion of the runs it supersedes
	// (a mutation the server only registers), run without ctx's
	// cancellation, bounded by recordTimeout: Run returns only once they
	// are settled, and a run stopped meanwhile returns ctx's error after.
	settle, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := conn.Exec(settle, fmt.Sprintf("INSERT INTO %s.rollup_runs (kind, date, run_id, started_at) SELECT '%s', arrayJoin([%s]), toUInt64(%d), toDateTime(%d)",
		db, k.name, dateList(days), runID, started.Unix())); err != nil {
		return fmt.Errorf("rollup: record the run (%s to %s): %w", day(days[0]), day(days[len(days)-1]), err)
	}
	var errs []error
	for _, t := range k.targets {
		// Older runs of these days are superseded for good: a run
		// recorded later with a lower run_id is never the latest.
		if err := conn.Exec(settle, fmt.Sprintf("ALTER TABLE %s.%s DELETE WHERE date IN %s AND run_id < %d", db, t, set, runID)); err != nil {
			errs = append(errs, fmt.Errorf("rollup: delete superseded rows of %s: %w", t, err))
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("rollup: stopped after recording %s to %s: %w", day(days[0]), day(days[len(days)-1]), err))
	}
	return errors.Join(errs...)
}

// clusterContext returns ctx with the settings of a run on cluster: reads
// through the Distributed tables skip replicas more than quiet (at least a
// second, at most 10 minutes) behind, and fail when a shard has no
// replica closer; inserts wait until every node holds the rows (the rollup
// tables are replicated to every node: pipeline/migrate/cluster.go).
func clusterContext(ctx context.Context, conn driver.Conn, cluster string, quiet time.Duration) (context.Context, error) {
	if err := schemas.ValidIdentifier(cluster); err != nil {
		return ctx, fmt.Errorf("rollup: cluster: %w", err)
	}
	nodes, err := ClusterNodes(ctx, conn, cluster)
	if err != nil {
		return ctx, fmt.Errorf("rollup: %w", err)
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"insert_quorum":                                      nodes,
		"insert_distributed_sync":                            1,
		"max_replica_delay_for_distributed_queries":          int(min(max(quiet, time.Second), 10*time.Minute) / time.Second),
		"fallback_to_stale_replicas_for_distributed_queries": 0,
	})), nil
}

// ClusterNodes returns how many servers cluster has (a server listed in
// two shards counts once): the quorum of an insert into a table
// replicated to every node (pipeline/migrate/cluster.go).
func ClusterNodes(ctx context.Context, conn driver.Conn, cluster string) (int, error) {
	var nodes uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(host_address, port) FROM system.clusters WHERE cluster = ?", cluster).Scan(&nodes); err != nil {
		return 0, fmt.Errorf("nodes of cluster %s: %w", cluster, err)
	}
	if nodes == 0 {
		return 0, fmt.Errorf("cluster %s is not in the server's remote_servers", cluster)
	}
	return int(nodes), nil
}

// markRange marks every day of [from, to] for both kinds.
func markRange(ctx context.Context, conn driver.Conn, db string, from, to time.Time) error {
	var days []time.Time
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s.rollup_marks (kind, date) SELECT arrayJoin(['%s', '%s']), arrayJoin([%s])",
		db, KindCredits, KindTouchpoints, dateList(days))); err != nil {
		return fmt.Errorf("rollup: mark the days to redo: %w", err)
	}
	return nil
}

func serverNow(ctx context.Context, conn driver.Conn) (time.Time, error) {
	var now time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return now, fmt.Errorf("rollup: read the server's clock: %w", err)
	}
	return now, nil
}

// chunks splits sorted days into runs of at most n days of one month each
// (a month is a partition of the source tables).
func chunks(days []time.Time, n int) [][]time.Time {
	var out [][]time.Time
	for len(days) > 0 {
		end := 1
		for end < len(days) && end < n && days[end].Month() == days[0].Month() && days[end].Year() == days[0].Year() {
			end++
		}
		out = append(out, days[:end])
		days = days[end:]
	}
	return out
}

// dateSet writes days as a set of Date literals: (toDate('2026-08-01'), ...).
func dateSet(days []time.Time) string { return "(" + dateList(days) + ")" }

// dateList writes days as Date literals separated by commas.
func dateList(days []time.Time) string {
	s := make([]string, len(days))
	for i, d := range days {
		s[i] = "toDate('" + day(d) + "')"
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Selects returns, per rollup table, the SELECT a run over days fills it
// with (run_id 0), for database db: what tests run on other ClickHouse
// releases.
func Selects(db string, days []time.Time) map[string]string {
	out := map[string]string{}
	for _, k := range kinds {
		for i, ins := range k.inserts {
			sql := fmt.Sprintf(ins, db, "0", dateSet(days))
			_, sel, _ := strings.Cut(sql, "\n")
			out[k.targets[i]] = sel
		}
	}
	return out
}
