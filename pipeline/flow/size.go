package flow

import "github.com/segmentio/kafka-go"

// HeaderSlack covers one record header's framing (two varint lengths).
const HeaderSlack = 10

// MessageBytes is the size of m as max_message_bytes counts it: key, value
// and headers.
func MessageBytes(m *kafka.Message) int {
	return len(m.Key) + len(m.Value) + HeadersBytes(m.Headers)
}

// HeadersBytes is the size of hs with their framing.
func HeadersBytes(hs []kafka.Header) int {
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value) + HeaderSlack
	}
	return n
}
