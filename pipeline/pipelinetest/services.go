// Package pipelinetest is the shared harness of the pipeline tests: it finds
// the real Kafka and ClickHouse, gives each test its own topics, consumer
// group and database (removed at the end), produces events, runs the
// attributor and reads back what it wrote, and computes the reference
// result with replay.
package pipelinetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"
)

// Environment variables of the harness.
const (
	// EnvKafka is the bootstrap broker. Default 127.0.0.1:9092.
	EnvKafka = "ATTRIBUTOR_TEST_KAFKA"
	// EnvClickHouse is the ClickHouse native address. Default 127.0.0.1:9000.
	EnvClickHouse = "ATTRIBUTOR_TEST_CLICKHOUSE"
	// EnvRequire, when "1", turns a missing service into a failure instead
	// of a skip (scripts/test.sh sets it).
	EnvRequire = "ATTRIBUTOR_REQUIRE_SERVICES"
	// EnvKeep, when set, keeps the topics and database of a failed test for
	// inspection.
	EnvKeep = "ATTRIBUTOR_TEST_KEEP"
)

// Services are the addresses of the real Kafka and ClickHouse.
type Services struct {
	Kafka      string // host:port
	ClickHouse string // host:port, native protocol
}

var (
	probeOnce sync.Once
	probed    Services
	probeErr  error
)

// Require returns the services, probed once per process. When they do not
// answer, the test is skipped with the reason, or fails when EnvRequire is 1.
func Require(t testing.TB) Services {
	t.Helper()
	probeOnce.Do(func() { probed, probeErr = probe() })
	if probeErr != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("pipeline test needs Kafka and ClickHouse (%s=1): %v", EnvRequire, probeErr)
		}
		t.Skipf("skipping: Kafka and ClickHouse are needed (start them with scripts/services.sh up): %v", probeErr)
	}
	return probed
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func probe() (Services, error) {
	s := Services{Kafka: getenv(EnvKafka, "127.0.0.1:9092"), ClickHouse: getenv(EnvClickHouse, "127.0.0.1:9000")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(s.Kafka), Timeout: 5 * time.Second}
	if _, err := client.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		return s, fmt.Errorf("kafka %s (%s): %w", s.Kafka, EnvKafka, err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.ClickHouse}, DialTimeout: 5 * time.Second})
	if err != nil {
		return s, fmt.Errorf("clickhouse %s (%s): %w", s.ClickHouse, EnvClickHouse, err)
	}
	defer conn.Close()
	if err := conn.Ping(ctx); err != nil {
		return s, fmt.Errorf("clickhouse %s (%s): %w", s.ClickHouse, EnvClickHouse, err)
	}
	return s, nil
}
