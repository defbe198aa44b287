// Package sessionize is the stage between the source and the sink: shards
// that each own the users whose key hashes to them, hold their journeys
// (touchpoints packed in bytes, campaign dimensions interned), attribute a
// conversion once the touchpoint watermark passes it, re-attribute after
// late touchpoints, and evict users whose rows are durable.
//
// A shard does no I/O of its own: it reads a user's stored past through
// History and hands its units to an Output (both implemented by the sink
// side), so it is tested with in-memory fakes of both.
package sessionize
