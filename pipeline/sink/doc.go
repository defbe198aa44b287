// Package sink is the stream's last stage: it batches the units of the
// shards and fetchers, writes their rows to ClickHouse (columnar inserts,
// retried with backoff) and their dead letters to the dead-letter topic,
// and only then fires the units' acks and advances each shard's durable
// sequence number (it implements sessionize.Output). It also holds the
// reads of stored state the runner and the shards need: a user's history
// (LoadHistory), the frontiers and watermarks a generation starts from,
// and the keys with stored events. The schema they write to is made by
// pipeline/migrate.
package sink
