package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// An insert whose block is several times the connection's compression
// buffer (pipeline.maxCompressionBuffer, 1 MiB) goes out in several
// compressed frames, column by column; ClickHouse reads them as one block:
// every row arrives whole, in one part. Inserts of a catch-up are this
// size (a column of event ids of a 200,000-row batch is 7.4 MB).
func TestLargeInsertSplitIntoFramesArrivesWhole(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, compression := range []string{"lz4", "none"} {
		cfg := env.Config().WithDefaults().ClickHouse
		cfg.Compression = compression
		conn, err := pipeline.OpenClickHouse(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		table := env.Database + ".frames_" + compression
		for _, q := range []string{
			"CREATE DATABASE IF NOT EXISTS " + env.Database,
			"CREATE TABLE " + table + " (id String, n Int64, s String) ENGINE = MergeTree ORDER BY n",
		} {
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		const rows = 150_000 // ids 5.6 MB, n 1.2 MB, s 3.2 MB: 10 MB in all
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (id, n, s)")
		if err != nil {
			t.Fatal(err)
		}
		var wantLen int64
		for i := range rows {
			id, s := fmt.Sprintf("70a8e1f2-0000-4000-8000-%012d", i), fmt.Sprintf("campaign-%011d", i*7)
			wantLen += int64(len(id) + len(s))
			if err := batch.Append(id, int64(i), s); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("%s: %v", compression, err)
		}
		var n, bytes, bad uint64
		var sumN int64
		// Every row as sent: its id and s carry its n.
		q := "SELECT count(), sum(n), sum(length(id) + length(s)), countIf(toInt64(substring(id, 25)) != n OR toInt64(substring(s, 10)) != n * 7) FROM " + table
		if err := conn.QueryRow(ctx, q).Scan(&n, &sumN, &bytes, &bad); err != nil {
			t.Fatal(err)
		}
		var parts uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE active AND database = '"+env.Database+"' AND table = 'frames_"+compression+"'").Scan(&parts); err != nil {
			t.Fatal(err)
		}
		if parts != 1 {
			t.Errorf("%s: the insert made %d parts, want 1 (one block)", compression, parts)
		}
		if n != rows || sumN != rows*(rows-1)/2 || int64(bytes) != wantLen || bad != 0 {
			t.Errorf("%s: stored %d rows (sum %d, %d bytes, %d not as sent), want %d rows (sum %d, %d bytes)", compression, n, sumN, bytes, bad, rows, rows*(rows-1)/2, wantLen)
		}
	}
}
