// Package source is the Kafka side of the stream: the topic checks and
// `attributor topics`, the co-partitioning group balancer, TLS and SASL,
// and the fetchers. A fetcher reads one partition through its fetch loop
// (package fetch: a kafka-go Conn to the leader, one run of messages
// ahead), decodes its messages, dead-letters what cannot be attributed
// (too big, undecodable, in the future) and sends the rest to the shard
// that owns the message's key, with the touchpoint watermark marks that
// let the shards attribute.
//
// Stage contract: a fetcher's output is the shards' input channels (a full
// channel blocks the fetch loop: that is the backpressure) and a Direct,
// which takes the units that need no shard (dead letters, spend) to the
// sink. Every item and unit carries the ack of its message, so that the
// offset is committed only once the sink made it durable.
//
// It imports flow, schemas and its subpackage fetch, never another stage (the
// offset tracker comes in as Offsets).
package source
