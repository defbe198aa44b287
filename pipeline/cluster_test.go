package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// On a ClickHouse cluster (pipelinetest.EnvCluster; the Kafka topics on the
// single broker), `attributor run --cluster` with stitching and
// --rollup-every: a first run credits the events with half the identity
// events; a second run gets the other half, reloads the users' histories
// from the cluster (their devices through links_by_user, GLOBAL IN) and
// re-attributes, while rolling up. The view read through the cluster
// equals replay of all the events with all the identities, and every day
// of credits ends up read from the rollups, which sum to the credited rows
// through every node.
func TestClusterStitchedRunRollsUp(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	env := pipelinetest.New(t, stitchOptions)
	ev := stitchedTraffic(t, 1713, 3000)
	first, late := halveIdentities(ev)
	cfg := env.Config()
	cfg.ClickHouse.Addr = c.Nodes[0]
	cfg.ClickHouse.Database = c.Database
	cfg.ClickHouse.Cluster = c.Name
	cenv := *env // the Env's checks, reading the cluster's database
	cenv.CH = c.Conns[0]
	cenv.Database = c.Database

	producePartitionFree(env, first, 1713)
	pipelinetest.RunUntilCaughtUp(t, cfg)
	equalReplay(t, &cenv, first)

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
		if err := c.Conns[i].QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return n
	}
	db := c.Database
	deadline := time.Now().Add(2 * time.Minute)
	for {
		days := count(0, "SELECT count() FROM (SELECT conversion_date FROM "+db+".attributed_conversions GROUP BY conversion_date)")
		valid := count(0, "SELECT count() FROM "+db+".rollup_valid_days WHERE kind = 'credits' AND date IN (SELECT conversion_date FROM "+db+".attributed_conversions)")
		if days > 0 && valid == days && r.Snapshot().Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after two minutes, %d of %d days of credits rolled up (pending conversions: %d)", valid, days, r.Snapshot().Pending)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	equalReplay(t, &cenv, ev)
	for i := range c.Conns {
		for _, tb := range []string{"rollup_marks", "rollup_runs"} {
			if err := c.Conns[i].Exec(ctx, "SYSTEM SYNC REPLICA "+db+"."+tb); err != nil {
				t.Fatal(err)
			}
		}
		var got, want int64
		if err := c.Conns[i].QueryRow(ctx, "SELECT toInt64(round(sum(linear_revenue) * 1000000)) FROM "+db+".model_comparison").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if err := c.Conns[i].QueryRow(ctx, "SELECT toInt64(sum(revenue_micros)) FROM "+db+".credited_conversions WHERE model = 'linear'").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got != want || want == 0 {
			t.Errorf("through %s: model_comparison from the rollups: linear revenue %d micros, credited_conversions %d", c.Nodes[i], got, want)
		}
		if v := count(i, "SELECT count() FROM "+db+".rollup_valid_days WHERE kind = 'credits'"); v == 0 {
			t.Errorf("through %s: no day rolled up", c.Nodes[i])
		}
	}
}
