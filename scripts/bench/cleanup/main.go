// Command cleanup deletes what one scripts/bench.sh run created: the Kafka
// topics and consumer groups and the ClickHouse databases whose names start
// with the run's prefix. The prefix must start with "bench_" and name one
// run, so that nobody else's topics or databases match it.
//
//	go run ./scripts/bench/cleanup --prefix bench_20261128_222600_1234
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
)

// runPrefix is what bench.sh names a run: bench_<date>_<time>_<pid>.
var runPrefix = regexp.MustCompile(`^bench_[0-9]{8}_[0-9]{6}_[0-9]+$`)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka broker `host:port`")
	chAddr := flag.String("clickhouse", "127.0.0.1:9000", "ClickHouse native `host:port`")
	prefix := flag.String("prefix", "", "the run's `prefix`: bench_YYYYMMDD_HHMMSS_PID")
	flag.Parse()
	if !runPrefix.MatchString(*prefix) {
		fmt.Fprintf(os.Stderr, "cleanup: prefix: must look like bench_YYYYMMDD_HHMMSS_PID, got %q\n", *prefix)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := errors.Join(kafkaCleanup(ctx, *brokers, *prefix), clickhouseCleanup(ctx, *chAddr, *prefix))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cleanup: %v\n", err)
		os.Exit(1)
	}
}

func kafkaCleanup(ctx context.Context, broker, prefix string) error {
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 30 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	var topics []string
	for _, t := range md.Topics {
		if strings.HasPrefix(t.Name, prefix) {
			topics = append(topics, t.Name)
		}
	}
	var errs []error
	if len(topics) > 0 {
		resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete topics: %w", err))
		} else {
			for t, err := range resp.Errors {
				if err != nil {
					errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
				}
			}
		}
	}
	fmt.Printf("cleanup: deleted %d topics %v\n", len(topics), topics)

	// Groups: their committed offsets would otherwise stay until the
	// broker's offset retention expires them. A broker that does not list
	// or delete groups only costs that.
	lg, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err == nil && lg.Error != nil {
		err = lg.Error
	}
	if err != nil {
		fmt.Printf("cleanup: groups not listed (%v); they expire with the broker's offset retention\n", err)
		return errors.Join(errs...)
	}
	var groups []string
	for _, g := range lg.Groups {
		if strings.HasPrefix(g.GroupID, prefix) {
			groups = append(groups, g.GroupID)
		}
	}
	if len(groups) > 0 {
		dg, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: groups})
		if err == nil {
			for g, gerr := range dg.Errors {
				if gerr != nil {
					err = errors.Join(err, fmt.Errorf("%s: %w", g, gerr))
				}
			}
		}
		if err != nil {
			fmt.Printf("cleanup: groups not all deleted (%v); they expire with the broker's offset retention\n", err)
		}
	}
	fmt.Printf("cleanup: deleted %d consumer groups\n", len(groups))
	return errors.Join(errs...)
}

func clickhouseCleanup(ctx context.Context, addr, prefix string) error {
	conn, err := pipeline.OpenClickHouse(ctx, pipeline.ClickHouseConfig{Addr: addr, Username: "default", DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT name FROM system.databases WHERE startsWith(name, ?)", prefix)
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	var dbs []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("list databases: %w", err)
		}
		dbs = append(dbs, name)
	}
	rows.Close()
	var errs []error
	for _, db := range dbs {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", db, err))
		}
	}
	fmt.Printf("cleanup: dropped %d databases %v\n", len(dbs), dbs)
	return errors.Join(errs...)
}
