// Package sink is the stream's last stage: it batches the units of the
// shards and fetchers, writes their rows to ClickHouse (columnar inserts,
// retried with backoff) and their dead letters to the dead-letter topic,
// and only then fires the units' acks and advances each shard's durable
// sequence number (it implements sessionize.Output). The reads of what it
// stored (a user's history, the state a generation starts from) are in
// pipeline/history. The schema it writes to is made by pipeline/migrate.
package sink
