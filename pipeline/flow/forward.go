package flow

import "context"

// Move says that the anonymous events of device Anon (its events without
// a user_id) change key from From to To: a first link (From is Anon
// itself) or an earlier link to another user (a relink). Out: the record
// is at From's home, which takes Anon's events out of From's journey and
// then sends the move on (Out false) to To's home, which loads them into
// To's journey. Both re-attribute the conversions whose paths change.
type Move struct {
	Anon, From, To string
	Out            bool
}

// Forward is a record a shard sends to another home through the
// repartition topic: an event (Kind KindTouchpoint or KindConversion,
// Value the message's original bytes, Origin and Offset the input
// partition and offset it was consumed at) to be processed under Key at
// Home, or a Move (Kind KindMove, Key the key it is about: To, or From
// when Out).
type Forward struct {
	Home   int
	Key    string
	Kind   ItemKind
	Value  []byte
	Origin int32
	Offset int64
	Move   Move
	// Ack fires once Kafka acknowledged the record (acks=all).
	Ack Ack
}

// Forwarder sends records to the repartition topic, in order per home
// partition. Forward blocks while too many records wait for Kafka, and
// returns false when ctx ended first or the forwarder failed (the
// generation then ends: Ack never fires).
type Forwarder interface {
	Forward(ctx context.Context, f *Forward) bool
}
