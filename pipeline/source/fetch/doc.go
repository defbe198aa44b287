// Package fetch is the fetch loop of one Kafka partition: a goroutine on
// a kafka-go Conn to the partition's leader that fetches runs of
// messages one run ahead of its caller, source's Fetcher (docs/DESIGN.md,
// "Our own fetch loop").
//
// Contract: Start begins at an offset (or the log's start); Loop.Next
// returns the partition's messages in offset order, each once, saying
// which one begins a run handed over. The caller owns every message Next
// returns, and has routed them all before it calls Next again: the run is
// then released, and Lag (the messages the log holds past those read, as
// the last fetch saw it, and those read but not released) never says the
// partition is at its end while fetched messages wait. A failed fetch
// closes the connection and is returned once, after the messages read
// before it; the loop waits (100 ms, doubling to 2 s) and dials the
// leader again through the brokers' metadata, from its own next offset.
// Retention that deleted messages before they were fetched moves the loop
// to the log's start; after the first message the gap is counted
// (Config.Skipped) and logged here, before it the caller counts it. When
// the context ends or Close is called, the connection is closed at once,
// so a fetch waiting on the broker does not hold a shutdown.
//
// What is not here: decoding the messages, their size and future checks,
// dead letters, the clock the fetcher times its messages by, routing,
// offsets and commits; they are the caller's.
//
// It imports kafka-go and the standard library only: never source, the
// contract (flow, schemas) or another stage. Its counters come in as
// atomics (Config.Fetches, Config.Skipped).
package fetch
