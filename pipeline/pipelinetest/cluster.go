package pipelinetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// EnvCluster names a ClickHouse cluster for the cluster tests, as
// "name@host:port,host:port,...": the cluster's name in the servers'
// remote_servers and the native address of every node. For the cluster of
// scripts/cluster.sh:
//
//	ATTRIBUTOR_TEST_CLUSTER=attributor_cluster@127.0.0.1:19001,127.0.0.1:19002,127.0.0.1:19003,127.0.0.1:19004
//
// Unset, the cluster tests skip, even under EnvRequire: the normal suite
// does not start a cluster (it needs ZooKeeper and four servers).
const EnvCluster = "ATTRIBUTOR_TEST_CLUSTER"

// Cluster is a ClickHouse cluster and a database of the test's own on it,
// dropped ON CLUSTER at the end.
type Cluster struct {
	Name     string        // the cluster's name (remote_servers)
	Nodes    []string      // native addresses, in EnvCluster's order
	Conns    []driver.Conn // one per node, as the attributor opens them on a cluster (insert_distributed_sync)
	Database string        // "t_<Name>", not created
}

// RequireCluster returns the cluster of EnvCluster, or skips t when it is
// unset. A node that does not answer fails t.
func RequireCluster(t testing.TB) *Cluster {
	t.Helper()
	spec := os.Getenv(EnvCluster)
	if spec == "" {
		t.Skipf("skipping: needs a ClickHouse cluster (%s=name@host:port,...; scripts/cluster.sh up)", EnvCluster)
	}
	name, nodes, ok := strings.Cut(spec, "@")
	if !ok || name == "" || nodes == "" {
		t.Fatalf("%s=%q: want name@host:port,host:port,...", EnvCluster, spec)
	}
	c := &Cluster{Name: name, Nodes: strings.Split(nodes, ","), Database: "t_" + uniqueName(t.Name())}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range c.Nodes {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr: []string{addr}, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Minute,
			Settings: clickhouse.Settings{"insert_distributed_sync": 1},
		})
		if err == nil {
			err = conn.Ping(ctx)
		}
		if err != nil {
			t.Fatalf("cluster node %s (%s): %v", addr, EnvCluster, err)
		}
		c.Conns = append(c.Conns, conn)
	}
	t.Cleanup(func() {
		defer func() {
			for _, conn := range c.Conns {
				conn.Close()
			}
		}()
		if t.Failed() && getenvBool(EnvKeep) {
			t.Logf("kept for inspection (%s): database %s on cluster %s", EnvKeep, c.Database, c.Name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := c.Conns[0].Exec(ctx, "DROP DATABASE IF EXISTS "+c.Database+" ON CLUSTER "+c.Name); err != nil {
			t.Errorf("cleanup: drop database %s on cluster %s: %v", c.Database, c.Name, err)
		}
	})
	return c
}
