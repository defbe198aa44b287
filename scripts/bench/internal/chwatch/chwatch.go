// Package chwatch watches an attributor's ClickHouse database for the
// conversions whose credited rows became visible, for the latency and soak
// benchmarks.
package chwatch

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Watcher polls ClickHouse for the conversion_ids of new parts of the
// tables holding credits (see Poll), noting when each was first seen: the moment its
// credited rows became durable and visible (to within one poll period).
type Watcher struct {
	conn      driver.Conn
	db        string
	mu        sync.Mutex
	seen      map[string]time.Time // conversion_id: start of the poll that first saw it
	blocks    map[blockKey]bool    // block numbers of the parts read
	polls     []time.Time
	partsRead int
	// distributed: attributed_conversions is a Distributed table (an
	// attributor run with --cluster), whose parts are on other nodes.
	distributed bool
	since       time.Time // start of the last poll (distributed)
	fullEvery   int       // polls (distributed)
	took        []float64 // how long each poll took, in ms
	tables      []string  // with a conversion_id column
	tablesAge   int       // polls since tables was looked up
	// OnPoll, when set before Run, is called after every poll of Run
	// with how long it took.
	OnPoll func(took time.Duration)
}

// New returns a Watcher of the attributor database db.
func New(conn driver.Conn, db string) *Watcher {
	return &Watcher{conn: conn, db: db, seen: map[string]time.Time{}, blocks: map[blockKey]bool{}}
}

// NewDistributed returns a Watcher of the attributor database db on a
// ClickHouse cluster: it polls the Distributed attributed_conversions for
// the rows inserted since a few seconds before the last poll (inserted_at
// has a resolution of one second), since the parts live on other nodes;
// every 40th poll reads every conversion_id, because a synchronous
// distributed insert that waits for a shard coming back stamps its rows
// with inserted_at when it started, long before they become visible.
func NewDistributed(conn driver.Conn, db string) *Watcher {
	w := New(conn, db)
	w.distributed = true
	return w
}

func (w *Watcher) pollDistributed(ctx context.Context, at time.Time) error {
	since := w.since.Add(-3 * time.Second)
	if w.fullEvery++; w.fullEvery%40 == 0 {
		since = time.Unix(0, 0)
	}
	rows, err := w.conn.Query(ctx, "SELECT DISTINCT conversion_id FROM "+w.db+".attributed_conversions WHERE inserted_at >= toDateTime(?)", since.Unix())
	if err != nil {
		return err
	}
	defer rows.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls = append(w.polls, at)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if _, ok := w.seen[id]; !ok {
			w.seen[id] = at
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.since = at
	return nil
}

// blockKey is a block number of a table: each table numbers its own.
type blockKey struct {
	table string
	block int64
}

// partName is partition_minblock_maxblock_level.
var partName = regexp.MustCompile(`^[0-9a-zA-Z]+_([0-9]+)_([0-9]+)_[0-9]+$`)

// Run polls every period until ctx ends or a poll fails.
func (w *Watcher) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		at := time.Now()
		if err := w.Poll(ctx, at); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		took := time.Since(at)
		w.mu.Lock()
		w.took = append(w.took, float64(took.Microseconds())/1000)
		w.mu.Unlock()
		if w.OnPoll != nil {
			w.OnPoll(took)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Poll reads the parts that are new since the last poll; at is the time
// noted for the conversions first seen in them. It watches every table of
// the database with a conversion_id column (attributed_conversions, or
// whatever table holds the credits in another storage layout; the
// credited_conversions view has no parts), so that it measures any layout.
func (w *Watcher) Poll(ctx context.Context, at time.Time) error {
	if w.distributed {
		return w.pollDistributed(ctx, at)
	}
	// The tables are looked up again every 100th poll (or until some are
	// found), not at every poll: a query less for a server that shares
	// the cores with what is measured.
	if len(w.tables) == 0 || w.tablesAge >= 100 {
		if err := w.lookUpTables(ctx); err != nil {
			return err
		}
	}
	w.tablesAge++
	if len(w.tables) == 0 {
		w.mu.Lock()
		w.polls = append(w.polls, at)
		w.mu.Unlock()
		return nil
	}
	rows, err := w.conn.Query(ctx, "SELECT table, name FROM system.parts WHERE database = ? AND active AND has(?, table)", w.db, w.tables)
	if err != nil {
		return err
	}
	fresh := map[string][]string{} // by table
	ranges := map[[2]string][2]int64{}
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			rows.Close()
			return err
		}
		m := partName.FindStringSubmatch(name)
		if m == nil {
			rows.Close()
			return fmt.Errorf("unexpected part name %q", name)
		}
		lo, _ := strconv.ParseInt(m[1], 10, 64)
		hi, _ := strconv.ParseInt(m[2], 10, 64)
		// A merged part of parts already read holds nothing new.
		for b := lo; b <= hi; b++ {
			if !w.blocks[blockKey{table, b}] {
				fresh[table] = append(fresh[table], "'"+name+"'")
				ranges[[2]string{table, name}] = [2]int64{lo, hi}
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	w.polls = append(w.polls, at)
	w.mu.Unlock()
	tables := make([]string, 0, len(fresh))
	for t := range fresh {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, table := range tables {
		if err := w.readParts(ctx, at, table, fresh[table], ranges); err != nil {
			return err
		}
	}
	return nil
}

// lookUpTables finds the tables of the database with a conversion_id column.
func (w *Watcher) lookUpTables(ctx context.Context) error {
	rows, err := w.conn.Query(ctx, "SELECT table FROM system.columns WHERE database = ? AND name = 'conversion_id'", w.db)
	if err != nil {
		return err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.tables, w.tablesAge = tables, 0
	return nil
}

// readParts notes the conversion_ids of table's parts.
func (w *Watcher) readParts(ctx context.Context, at time.Time, table string, parts []string, ranges map[[2]string][2]int64) error {
	rows, err := w.conn.Query(ctx, "SELECT DISTINCT _part, conversion_id FROM "+w.db+"."+table+" WHERE _part IN ("+strings.Join(parts, ", ")+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	// A part merged away since it was listed returns nothing: its blocks
	// stay unread, so that the merged part is read at the next poll.
	read := map[string]bool{}
	for rows.Next() {
		var part, id string
		if err := rows.Scan(&part, &id); err != nil {
			return err
		}
		read[part] = true
		if _, ok := w.seen[id]; !ok {
			w.seen[id] = at
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for part := range read {
		r := ranges[[2]string{table, part}]
		for b := r[0]; b <= r[1]; b++ {
			w.blocks[blockKey{table, b}] = true
		}
	}
	w.partsRead += len(read)
	return nil
}

// Count returns how many of the produced conversions were seen.
func (w *Watcher) Count(produced map[string]int64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for id := range produced {
		if _, ok := w.seen[id]; ok {
			n++
		}
	}
	return n
}

// Periods returns the sorted intervals between poll starts, in ms.
func (w *Watcher) Periods() []float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []float64
	for i := 1; i < len(w.polls); i++ {
		out = append(out, float64(w.polls[i].Sub(w.polls[i-1]).Microseconds())/1000)
	}
	slices.Sort(out)
	return out
}

// Took returns the sorted durations of Run's polls, in ms: a poll that
// takes long (the poller short of a CPU) delays the next one, and the
// conversions it would have seen are noted late by as much.
func (w *Watcher) Took() []float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(slices.Values(w.took))
}

// PollBefore returns the start of the poll before the one that started at
// at: a conversion first seen by the poll of at became visible after it
// (the poll before did not see it), so latencies measured from it are a
// lower bound where those from at are an upper one.
func (w *Watcher) PollBefore(at time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, found := slices.BinarySearchFunc(w.polls, at, time.Time.Compare)
	if !found || i == 0 {
		return time.Time{}, false
	}
	return w.polls[i-1], true
}

// Seen returns when conversion id was first seen.
func (w *Watcher) Seen(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.seen[id]
	return at, ok
}

// PartsRead returns the number of parts read.
func (w *Watcher) PartsRead() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.partsRead
}
