package pipeline

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/schemas"
)

// OpenClickHouse connects over the native protocol and checks that the
// server answers. Tables are always named with their database, so the
// connection itself uses the server's default database.
func OpenClickHouse(ctx context.Context, cfg ClickHouseConfig) (driver.Conn, error) {
	tlsCfg, err := cfg.TLS.Config("clickhouse")
	if err != nil {
		return nil, err
	}
	var settings clickhouse.Settings
	if cfg.Cluster != "" {
		// An insert into a Distributed table returns once every shard's
		// part is written on one of its replicas, so that "ack means
		// durable" holds on a cluster too (not when the rows wait in the
		// receiving node's queue) and a history reload right after sees them.
		settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Settings:        settings,
		TLS:             tlsCfg,
		Addr:            []string{cfg.Addr},
		Auth:            clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     5 * time.Minute,
		MaxOpenConns:    16,
		MaxIdleConns:    8,
		ConnMaxLifetime: connMaxLifetime,
		Compression:     cfg.compression(),
		// See maxCompressionBuffer.
		MaxCompressionBuffer: maxCompressionBuffer,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: unreachable: %w", cfg.Addr, err)
	}
	return conn, nil
}

// connMaxLifetime bounds how long a pooled connection lives. clickhouse-go
// keeps, per connection, the encoded block and its compressed copy of the
// largest insert it sent, and nothing but closing the connection gives them
// back: after a backlog's large batches the pool held 72 MiB of them (heap
// profile of the unique-campaign soak, docs/BENCHMARKS.md). Connections
// are replaced every minute instead of every hour, so those buffers follow
// the recent inserts, as the sink's own column buffers do (see
// sink.retainBounded); a reconnect a minute per connection costs nothing
// measurable. A query running longer is not cut: the lifetime is checked
// when a connection goes back to the pool.
const connMaxLifetime = time.Minute

// maxCompressionBuffer is how many bytes of an insert's block clickhouse-go
// encodes into a connection's buffer before it compresses them and writes
// them to the socket (it checks after each column). clickhouse-go's
// default, 10 MiB, made every pooled connection grow its buffer by
// doubling to 10 MiB plus a catch-up batch's largest column, and its
// compressor's output buffer with it: about 280 MB of the 1.7 GB a
// 1M-event catch-up allocated, zeroed and copied (docs/BENCHMARKS.md, "The
// attributor's CPU per event, fourth pass"). At 1 MiB a block goes out
// column by column as soon as they are large, each compressed frame on its
// own (ClickHouse reads a block's frames as one stream, as it does past
// 10 MiB), and a buffer grows to the largest column, not to the block.
const maxCompressionBuffer = 1 << 20

func (cfg ClickHouseConfig) compression() *clickhouse.Compression {
	if cfg.Compression == "none" || (cfg.Compression == "auto" && loopback(cfg.Addr)) {
		return nil
	}
	return &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
}

// loopback reports whether addr (host:port, or a bare host) names this
// machine without a network between: localhost or a loopback IP. LZ4 on
// such a connection only costs CPU on both ends, the attributor's and
// ClickHouse's (5–8% of the attributor's CPU in the throughput
// benchmark, docs/BENCHMARKS.md); a name that resolves to a loopback
// address elsewhere is not looked up, so it keeps lz4.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Migrate creates or upgrades the schema in database (see migrate.Migrate).
func Migrate(ctx context.Context, conn driver.Conn, database string) error {
	return migrate.Migrate(ctx, conn, database)
}

// MigrateConfig migrates cfg.Database on cfg.Cluster, or on the single
// server when cfg.Cluster is empty (see migrate.MigrateCluster).
func MigrateConfig(ctx context.Context, conn driver.Conn, cfg ClickHouseConfig) error {
	return migrate.MigrateCluster(ctx, conn, cfg.Database, cfg.Cluster)
}

// InsertSpend writes ad-spend rows tagged with origin (see sink.InsertSpend).
func InsertSpend(ctx context.Context, conn driver.Conn, db string, rows []schemas.AdSpend, origin string) error {
	return sink.InsertSpend(ctx, conn, db, rows, origin)
}
