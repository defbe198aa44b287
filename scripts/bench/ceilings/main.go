// Command ceilings measures what the attributor's two ends could do with
// nothing in between, on the same services and data as a throughput run:
//
//	ceilings drain --topics T1,T2
//	    reads every message the topics hold now with bare kafka-go partition
//	    readers (FetchMessage, configured like the attributor's fetchers, no
//	    decoding) and reports events/s.
//	ceilings insert --from-db A --to-db B --rows N
//	    inserts N rows into B.attributed_conversions (created like A's) with
//	    bare clickhouse-go columnar batches of --batch rows, one batch at a
//	    time, and reports rows/s. The rows are compact rows, one per
//	    conversion version, with their path and credits in Array columns
//	    (schema 2), as the attributor's sink writes them; credited_rows is
//	    the credited rows they hold (the entries of credit_fractions), which
//	    credited_conversions unfolds them into. The rows are A's, the
//	    attributor's own output: up to --pool of them are read once and
//	    cycled, each cycle with its conversion_ids suffixed, so that every
//	    row is distinct.
//
// Results go to stdout as "metric<TAB>value" lines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/schemas"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ceilings drain|insert [flags]")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "drain":
		err = drain(ctx, os.Args[2:])
	case "insert":
		err = insert(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want drain or insert", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ceilings %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func result(metric string, v any) { fmt.Printf("%s\t%v\n", metric, v) }

func drain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("drain", flag.ExitOnError)
	broker := fs.String("brokers", "127.0.0.1:9092", "Kafka broker `host:port`")
	topics := fs.String("topics", "", "comma-separated `topics` to drain")
	fs.Parse(args)
	if *topics == "" {
		return errors.New("topics: required")
	}
	began := time.Now()
	client := &kafka.Client{Addr: kafka.TCP(*broker), Timeout: 10 * time.Second}
	names := strings.Split(*topics, ",")
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	offs, err := client.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("list offsets: %w", err)
	}
	var messages, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	start := time.Now()
	for topic, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			if p.LastOffset <= p.FirstOffset {
				continue
			}
			wg.Add(1)
			go func(topic string, partition int, first, end int64) {
				defer wg.Done()
				// A kafka-go Reader per partition, as the attributor's fetchers
				// read before their own fetch loop (pipeline/source/fetch/fetchloop.go):
				// the ceiling of reading alone, nothing routed.
				rd := kafka.NewReader(kafka.ReaderConfig{
					Brokers: []string{*broker}, Topic: topic, Partition: partition,
					MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 100 * time.Millisecond,
					QueueCapacity: 1024, ReadLagInterval: -1,
				})
				defer rd.Close()
				if err := rd.SetOffset(first); err != nil {
					errs <- err
					return
				}
				var n, b int64
				for {
					m, err := rd.FetchMessage(ctx)
					if err != nil {
						errs <- fmt.Errorf("fetch %s/%d: %w", topic, partition, err)
						return
					}
					n++
					b += int64(len(m.Key) + len(m.Value))
					if m.Offset+1 >= end {
						break
					}
				}
				messages.Add(n)
				bytes.Add(b)
			}(topic, p.Partition, p.FirstOffset, p.LastOffset)
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	took := time.Since(start)
	n := messages.Load()
	result("events", n)
	result("bytes", bytes.Load())
	result("seconds", fmt.Sprintf("%.3f", took.Seconds()))
	result("events_per_s", fmt.Sprintf("%.0f", float64(n)/took.Seconds()))
	result("process_seconds", fmt.Sprintf("%.3f", time.Since(began).Seconds()))
	return nil
}

// compact is a columnar block of attributed_conversions rows, in the
// order of schemas.CompactColumns: one row per conversion version, its path
// and credits in the Array columns.
type compact struct {
	cid, ctyp, key, cur                      []string
	cts, rev                                 []int64
	date                                     []time.Time
	version, plen                            []uint32
	tid, ch, src, med, camp, inter, mod, fit [][]string
	tts, micros                              [][]int64
	frac                                     [][]float64
}

func (c *compact) len() int { return len(c.cid) }

// credited returns the credited rows that rows [lo, hi) hold.
func (c *compact) credited(lo, hi int) int {
	n := 0
	for _, f := range c.frac[lo:hi] {
		n += len(f)
	}
	return n
}

// columns returns rows [lo, hi) in the order of schemas.CompactColumns,
// with conversion_ids replaced by ids.
func (c *compact) columns(lo, hi int, ids []string) []any {
	return []any{ids, c.ctyp[lo:hi], c.key[lo:hi], c.cur[lo:hi], c.cts[lo:hi], c.date[lo:hi], c.version[lo:hi], c.rev[lo:hi],
		c.plen[lo:hi], c.tid[lo:hi], c.ch[lo:hi], c.src[lo:hi], c.med[lo:hi], c.camp[lo:hi], c.inter[lo:hi], c.tts[lo:hi],
		c.mod[lo:hi], c.fit[lo:hi], c.frac[lo:hi], c.micros[lo:hi]}
}

func insert(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("insert", flag.ExitOnError)
	addr := fs.String("clickhouse", "127.0.0.1:9000", "ClickHouse native `host:port`")
	from := fs.String("from-db", "", "`database` whose attributed_conversions supply the rows")
	to := fs.String("to-db", "", "`database` to create and insert into (bench_...: its attributed_conversions is replaced)")
	total := fs.Int("rows", 0, "compact `rows` (conversion versions) to insert (default: as many as from-db holds)")
	size := fs.Int("batch", 50_000, "`rows` per insert")
	pool := fs.Int("pool", 500_000, "at most this many `rows` are read from from-db and cycled")
	fs.Parse(args)
	for _, db := range []string{*from, *to} {
		if err := schemas.ValidIdentifier(db); err != nil {
			return fmt.Errorf("database %q: %w", db, err)
		}
	}
	conn, err := pipeline.OpenClickHouse(ctx, pipeline.ClickHouseConfig{Addr: *addr, Username: "default", DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := readCompact(ctx, conn, *from, *pool)
	if err != nil {
		return err
	}
	if rows.len() == 0 {
		return fmt.Errorf("%s.attributed_conversions is empty", *from)
	}
	if *total == 0 {
		*total = rows.len()
	}
	if !strings.HasPrefix(*to, "bench_") || *to == *from {
		return fmt.Errorf("to-db %q: must start with bench_ and differ from from-db: its table is replaced", *to)
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + *to,
		"DROP TABLE IF EXISTS " + *to + ".attributed_conversions", // left by an interrupted attempt
		"CREATE TABLE " + *to + ".attributed_conversions AS " + *from + ".attributed_conversions",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	query := "INSERT INTO " + *to + ".attributed_conversions (" + schemas.CompactColumns + ")"
	var busy time.Duration
	credited := 0
	began := time.Now()
	for done := 0; done < *total; {
		// Prepare the next batch's rows outside the timed part: only the
		// insert itself is measured.
		lo, cycle := done%rows.len(), done/rows.len()
		hi := min(rows.len(), lo+*size, lo+(*total-done))
		ids := rows.cid[lo:hi]
		if cycle > 0 {
			ids = make([]string, hi-lo)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s~%d", rows.cid[lo+i], cycle)
			}
		}
		cols := rows.columns(lo, hi, ids)
		start := time.Now()
		if err := send(ctx, conn, query, cols); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		busy += time.Since(start)
		done += hi - lo
		credited += rows.credited(lo, hi)
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+*to+".attributed_conversions").Scan(&stored); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	result("rows", *total)
	result("rows_stored", stored)
	result("pool_rows", rows.len())
	result("seconds", fmt.Sprintf("%.3f", busy.Seconds()))
	result("rows_per_s", fmt.Sprintf("%.0f", float64(*total)/busy.Seconds()))
	result("credited_rows", credited)
	result("credited_rows_per_s", fmt.Sprintf("%.0f", float64(credited)/busy.Seconds()))
	result("wall_seconds", fmt.Sprintf("%.3f", time.Since(began).Seconds()))
	return nil
}

func send(ctx context.Context, conn driver.Conn, query string, cols []any) error {
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			b.Abort()
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return b.Send()
}

func readCompact(ctx context.Context, conn driver.Conn, db string, limit int) (*compact, error) {
	rs, err := conn.Query(ctx, "SELECT "+schemas.CompactColumns+" FROM "+db+".attributed_conversions LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("read %s.attributed_conversions: %w", db, err)
	}
	defer rs.Close()
	c := &compact{}
	for rs.Next() {
		var (
			cid, ctyp, key, cur                      string
			cts, rev                                 int64
			date                                     time.Time
			version, plen                            uint32
			tid, ch, src, med, camp, inter, mod, fit []string
			tts, micros                              []int64
			frac                                     []float64
		)
		if err := rs.Scan(&cid, &ctyp, &key, &cur, &cts, &date, &version, &rev, &plen,
			&tid, &ch, &src, &med, &camp, &inter, &tts, &mod, &fit, &frac, &micros); err != nil {
			return nil, fmt.Errorf("read %s.attributed_conversions: %w", db, err)
		}
		c.cid, c.ctyp, c.key, c.cur = append(c.cid, cid), append(c.ctyp, ctyp), append(c.key, key), append(c.cur, cur)
		c.cts, c.date, c.version, c.rev, c.plen = append(c.cts, cts), append(c.date, date), append(c.version, version), append(c.rev, rev), append(c.plen, plen)
		c.tid, c.ch, c.src, c.med = append(c.tid, tid), append(c.ch, ch), append(c.src, src), append(c.med, med)
		c.camp, c.inter, c.tts = append(c.camp, camp), append(c.inter, inter), append(c.tts, tts)
		c.mod, c.fit, c.frac, c.micros = append(c.mod, mod), append(c.fit, fit), append(c.frac, frac), append(c.micros, micros)
	}
	return c, rs.Err()
}
