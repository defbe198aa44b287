// Package flow holds what passes between the stages of the stream: the
// items a source sends the sessionizer, the units (raw rows, credited rows,
// dead letters) the sessionizer sends the sink, and the acks a unit carries.
// An ack fires only once every row of its unit is durable in ClickHouse
// (and its dead letters are in Kafka): ack means durable.
//
// It imports no stage; every stage imports it.
package flow
