package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/pipeline/rollup"
)

// `attributor run` with stitching and --rollup-every: a first run
// credits the events with half the identity events; a second, live run
// gets the other half, reloads the users' histories and re-attributes
// (the devices' moves) while rolling up, until the view equals replay of
// all the events with all the identities and every day of credits is
// read from the rollups. After the stop, and a rollup of what the stop
// wrote, the rollups sum to the credited rows.
//
// The live run is stopped only once the view equals replay, not once the
// identity events are consumed: a move is sent once the rows of its link
// are durable (with the sink's two steps, up to --raw-flush-interval
// after the identity event's credits), a relink takes two such steps,
// and a run stopped before leaves its moves in the repartition topic for
// the next run. And a day rolled up may read live again by the stop: a
// batch's rollup marks go out with its raw rows, after its credits, so a
// rollup that ran in between is superseded (the views read the day live
// until the next rollup).
func TestStitchedRunRollsUp(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	stitchedRunRollsUp(t, env, env, env.Config(), []driver.Conn{env.CH}, []string{"the server"})
}

// stitchedRunRollsUp runs TestStitchedRunRollsUp's two runs with cfg:
// env holds the topics, cenv reads the database of cfg (on a cluster:
// through its first node), and the rollups are checked through every
// connection of conns (named by nodes). With more than one connection
// (a cluster), each node first syncs its replicas of the rollup tables.
func stitchedRunRollsUp(t *testing.T, env, cenv *pipelinetest.Env, cfg pipeline.Config, conns []driver.Conn, nodes []string) {
	ev := stitchedTraffic(t, 1713, 3000)
	first, late := halveIdentities(ev)
	producePartitionFree(env, first, 1713)
	pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, cenv, first)

	env.ProduceIdentities(late.Identities, &kafka.CRC32Balancer{})
	cfg.RollupEvery = 300 * time.Millisecond
	cfg.RollupQuiet = -1
	r := pipelinetest.StartRunner(t, cfg)
	r.WaitSnapshot(2*time.Minute, "the late identity events consumed", func(s pipeline.Snapshot) bool {
		return s.Identities >= int64(len(late.Identities))
	})
	ctx := context.Background()
	count := func(i int, sql string) uint64 {
		var n uint64
		if err := conns[i].QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return n
	}
	db := cenv.Database
	want := pipelinetest.Replay(t, ev, replay.Config{})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		days := count(0, "SELECT count() FROM (SELECT conversion_date FROM "+db+".attributed_conversions GROUP BY conversion_date)")
		valid := count(0, "SELECT count() FROM "+db+".rollup_valid_days WHERE kind = 'credits' AND date IN (SELECT conversion_date FROM "+db+".attributed_conversions)")
		diff := pipelinetest.Diff(want, cenv.Credited(), 20)
		if days > 0 && valid == days && r.Snapshot().Pending == 0 && diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after two minutes, %d of %d days of credits rolled up (pending conversions: %d); credited_conversions against replay:\n%s", valid, days, r.Snapshot().Pending, diff)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	equalReplay(t, cenv, ev)
	// What the stop wrote is rolled up as `attributor rollup` does, until
	// every day is valid again (a run records its start to the second,
	// and must start after the day's latest mark).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		if _, err := rollup.Run(ctx, conns[0], rollup.Options{Database: db, Cluster: cfg.ClickHouse.Cluster, Quiet: -1}); err != nil {
			t.Fatal(err)
		}
		days := count(0, "SELECT count() FROM (SELECT conversion_date FROM "+db+".attributed_conversions GROUP BY conversion_date)")
		valid := count(0, "SELECT count() FROM "+db+".rollup_valid_days WHERE kind = 'credits' AND date IN (SELECT conversion_date FROM "+db+".attributed_conversions)")
		if valid == days {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stop, rolling up for a minute: %d of %d days of credits rolled up", valid, days)
		}
	}
	for i := range conns {
		if len(conns) > 1 {
			for _, tb := range []string{"rollup_marks", "rollup_runs"} {
				if err := conns[i].Exec(ctx, "SYSTEM SYNC REPLICA "+db+"."+tb); err != nil {
					t.Fatal(err)
				}
			}
		}
		var got, want int64
		if err := conns[i].QueryRow(ctx, "SELECT toInt64(round(sum(linear_revenue) * 1000000)) FROM "+db+".model_comparison").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if err := conns[i].QueryRow(ctx, "SELECT toInt64(sum(revenue_micros)) FROM "+db+".credited_conversions WHERE model = 'linear'").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got != want || want == 0 {
			t.Errorf("through %s: model_comparison from the rollups: linear revenue %d micros, credited_conversions %d", nodes[i], got, want)
		}
		if v := count(i, "SELECT count() FROM "+db+".rollup_valid_days WHERE kind = 'credits'"); v == 0 {
			t.Errorf("through %s: no day rolled up", nodes[i])
		}
	}
}
