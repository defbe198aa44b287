package pipeline_test

import (
	"testing"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// On a ClickHouse cluster (pipelinetest.EnvCluster; the Kafka topics on the
// single broker), `attributor run --cluster` with stitching and
// --rollup-every, as TestStitchedRunRollsUp on one server: the view read
// through the cluster equals replay, and the rollups sum to the credited
// rows through every node.
func TestClusterStitchedRunRollsUp(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	env := pipelinetest.New(t, stitchOptions)
	cfg := env.Config()
	cfg.ClickHouse.Addr = c.Nodes[0]
	cfg.ClickHouse.Database = c.Database
	cfg.ClickHouse.Cluster = c.Name
	cenv := *env // the Env's checks, reading the cluster's database
	cenv.CH = c.Conns[0]
	cenv.Database = c.Database
	stitchedRunRollsUp(t, env, &cenv, cfg, c.Conns, c.Nodes)
}
