package history

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
)

// Load reads the stored touchpoints of keys with ts_ms >= tpFromMs,
// and their stored conversions with ts_ms >= convFromMs. With stitched
// (identity stitching), it also reads those of the devices linked to the
// keys (flow.History.Devices: the anonymous_ids whose earliest link in table
// links is to a key; their events are stored under the anonymous_id) and
// the highest version credited of each conversion. The keys travel as an
// external table, never inside the SQL text.
func Load(ctx context.Context, conn driver.Conn, db string, keys []string, tpFromMs, convFromMs int64, stitched bool) (flow.History, error) {
	h := flow.History{Touchpoints: map[string][]attribution.Touchpoint{}, Conversions: map[string][]schemas.Conversion{}}
	if len(keys) == 0 {
		return h, nil
	}
	var devices map[string][]string
	if stitched {
		var err error
		if devices, h.Linked, err = loadDevices(ctx, conn, db, keys); err != nil {
			return h, err
		}
	}
	h.Devices = devices
	all := keys
	if len(devices) > 0 {
		all = slices.Clone(keys)
		for _, ds := range devices {
			all = append(all, ds...)
		}
	}
	kt, err := stringTable("history_keys", "user_key", all)
	if err != nil {
		return h, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT user_key, event_id, ts_ms, interaction, channel, source, medium, campaign FROM "+db+".touchpoints"+
			" WHERE user_key IN (SELECT user_key FROM history_keys) AND ts_ms >= ? AND too_late = 0", tpFromMs)
	if err != nil {
		return h, fmt.Errorf("load touchpoints: %w", err)
	}
	for rows.Next() {
		var key, inter string
		var tp attribution.Touchpoint
		if err := rows.Scan(&key, &tp.ID, &tp.TimeMs, &inter, &tp.Channel, &tp.Source, &tp.Medium, &tp.Campaign); err != nil {
			rows.Close()
			return h, fmt.Errorf("load touchpoints: %w", err)
		}
		tp.Impression = inter == schemas.InteractionImpression
		h.Touchpoints[key] = append(h.Touchpoints[key], tp)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("load touchpoints: %w", err)
	}
	rows.Close()

	if kt, err = stringTable("history_keys", "user_key", all); err != nil {
		return h, err
	}
	rows, err = conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT user_key, event_id, user_id, anonymous_id, ts_ms, conversion_type, revenue_micros, currency FROM "+db+".conversions"+
			" WHERE user_key IN (SELECT user_key FROM history_keys) AND ts_ms >= ?", convFromMs)
	if err != nil {
		return h, fmt.Errorf("load conversions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var key string
		var cv schemas.Conversion
		if err := rows.Scan(&key, &cv.EventID, &cv.UserID, &cv.AnonymousID, &cv.TimeMs, &cv.ConversionType, &cv.RevenueMicros, &cv.Currency); err != nil {
			return h, fmt.Errorf("load conversions: %w", err)
		}
		h.Conversions[key] = append(h.Conversions[key], cv)
		ids = append(ids, cv.EventID)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("load conversions: %w", err)
	}
	rows.Close()
	versions, days, err := loadCredited(ctx, conn, db, ids)
	if err != nil {
		return h, err
	}
	h.Days = days
	if stitched {
		// Without stitching a conversion's version counts its path's
		// events, so that a recomputation writes the same row; with it a
		// move can shrink a path, and versions go above the last written.
		h.Versions = versions
	}
	return h, nil
}

// stringTable is an external table of one String column holding vals.
func stringTable(name, col string, vals []string) (*ext.Table, error) {
	t, err := ext.NewTable(name, ext.Column(col, "String"))
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if err := t.Append(v); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// loadDevices returns, per key, the anonymous_ids whose deciding link (the
// earliest, stitch.Table's rule) is to that key, and for each key that is
// itself a linked anonymous_id, its user: every stored link of the keys
// and of the anonymous_ids ever linked to one of them is read, so that an
// earlier link to another user is seen. On a cluster links and
// links_by_user are Distributed tables sharded by different keys (a
// device, a user), so the user's devices are found once, on the node
// queried, and sent to the shards of links (GLOBAL IN: 18.16 refuses a
// Distributed table in a plain IN inside a distributed query); on one
// server GLOBAL IN is a plain IN.
func loadDevices(ctx context.Context, conn driver.Conn, db string, keys []string) (devices map[string][]string, linked map[string]string, err error) {
	kt, err := stringTable("history_keys", "user_key", keys)
	if err != nil {
		return nil, nil, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT anonymous_id, user_id, ts_ms, event_id FROM "+db+".links"+
			" WHERE anonymous_id IN (SELECT user_key FROM history_keys)"+
			" OR anonymous_id GLOBAL IN (SELECT anonymous_id FROM "+db+".links_by_user WHERE user_id IN (SELECT user_key FROM history_keys))")
	if err != nil {
		return nil, nil, fmt.Errorf("load links: %w", err)
	}
	defer rows.Close()
	var tab *stitch.Table
	for rows.Next() {
		var l schemas.Link
		if err := rows.Scan(&l.AnonymousID, &l.UserID, &l.TimeMs, &l.EventID); err != nil {
			return nil, nil, fmt.Errorf("load links: %w", err)
		}
		if tab == nil {
			tab = stitch.NewTable()
		}
		tab.Add(l)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load links: %w", err)
	}
	if tab == nil {
		return nil, nil, nil
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	for l := range tab.Links() {
		if want[l.UserID] {
			if devices == nil {
				devices = map[string][]string{}
			}
			devices[l.UserID] = append(devices[l.UserID], l.AnonymousID)
		}
		if want[l.AnonymousID] {
			if linked == nil {
				linked = map[string]string{}
			}
			linked[l.AnonymousID] = l.UserID
		}
	}
	for _, ds := range devices {
		slices.Sort(ds)
	}
	return devices, linked, nil
}

// loadCredited returns, for each conversion of ids that was credited, the
// highest version it was credited with and the days under which its rows
// still show credits (a day's latest row is not a retraction), from
// conversion_versions (sorted by conversion_id: a lookup, not a scan;
// attributed_conversions is sorted by date first).
func loadCredited(ctx context.Context, conn driver.Conn, db string, ids []string) (map[string]uint32, map[string][]int32, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	kt, err := stringTable("history_ids", "id", ids)
	if err != nil {
		return nil, nil, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(kt)),
		"SELECT conversion_id, toInt32(conversion_date), maxIf(version, retracted = 0), argMax(retracted, version) = 0"+
			" FROM "+db+".conversion_versions WHERE conversion_id IN (SELECT id FROM history_ids) GROUP BY conversion_id, conversion_date")
	if err != nil {
		return nil, nil, fmt.Errorf("load versions: %w", err)
	}
	defer rows.Close()
	versions := make(map[string]uint32, len(ids))
	days := make(map[string][]int32, len(ids))
	for rows.Next() {
		var id string
		var day int32
		var v uint32
		var live uint8
		if err := rows.Scan(&id, &day, &v, &live); err != nil {
			return nil, nil, fmt.Errorf("load versions: %w", err)
		}
		versions[id] = max(versions[id], v)
		if live == 1 {
			days[id] = append(days[id], day)
		}
	}
	return versions, days, rows.Err()
}
