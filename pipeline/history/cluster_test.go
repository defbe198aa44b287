package history_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/history"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// On a ClickHouse cluster (pipelinetest.EnvCluster) a history load with
// stitching finds a user's devices through links_by_user (sharded by user)
// and their links (sharded by device), through any node: the subquery over
// one Distributed table inside a query over another is sent once (GLOBAL
// IN), which 18.16 otherwise refuses (distributed_product_mode). A device
// whose earliest link is to another user is not the key's.
func TestClusterLoadHistoryFindsDevices(t *testing.T) {
	c := pipelinetest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db := c.Database
	if err := migrate.MigrateCluster(ctx, c.Conns[0], db, c.Name); err != nil {
		t.Fatal(err)
	}
	// Devices d0..d39 of users u0..u9 (d_i to u_{i%10}), spread over both
	// shards; d5 was linked to u9 first, then to u5: its earliest link
	// decides (u9). Touchpoints stored under the devices.
	q := "INSERT INTO " + db + ".links (anonymous_id, user_id, ts_ms, event_id, home, origin) " +
		"SELECT concat('d', toString(number)), concat('u', toString(number % 10)), 1000 + number, concat('e', toString(number)), 0, 'identity' FROM system.numbers LIMIT 40 " +
		"UNION ALL SELECT 'd5', 'u9', 10, 'e-early', 0, 'identity'"
	if err := c.Conns[0].Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	q = "INSERT INTO " + db + ".touchpoints (event_id, user_key, ts_ms, event_date, interaction, channel) " +
		"SELECT concat('t', toString(number)), concat('d', toString(number)), 1788000000000 + number, toDate('2026-08-29'), 'click', 'email' FROM system.numbers LIMIT 40"
	if err := c.Conns[0].Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	for i, conn := range c.Conns {
		// Each node reads its own replica of its shard: wait for it.
		for _, tb := range []string{"links_local", "links_by_user_local", "touchpoints_local"} {
			if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db+"."+tb); err != nil {
				t.Fatal(err)
			}
		}
		h, err := history.Load(ctx, conn, db, []string{"u5", "u9", "d7"}, 0, 0, true)
		if err != nil {
			t.Fatalf("through %s: %v", c.Nodes[i], err)
		}
		for _, want := range []struct {
			user    string
			devices []string
		}{{"u5", []string{"d15", "d25", "d35"}}, {"u9", []string{"d19", "d29", "d39", "d5", "d9"}}} {
			if got := h.Devices[want.user]; !slices.Equal(got, want.devices) {
				t.Errorf("through %s: devices of %s: %v, want %v", c.Nodes[i], want.user, got, want.devices)
			}
			for _, d := range want.devices {
				if tps := h.Touchpoints[d]; len(tps) != 1 {
					t.Errorf("through %s: touchpoints of device %s: %d, want 1", c.Nodes[i], d, len(tps))
				}
			}
		}
		if h.Linked["d7"] != "u7" {
			t.Errorf("through %s: d7 linked to %q, want u7", c.Nodes[i], h.Linked["d7"])
		}
	}
}
