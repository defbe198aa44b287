package fetch

import (
	"bufio"
	"context"
	"net"

	"github.com/segmentio/kafka-go"
)

// readBufSize is how much a fetch loop's connection reads from its socket
// at a time. kafka-go's Conn reads through a bufio.Reader of 4 KB: a read
// system call per 4 KB of a fetch's answer, which a profile of
// scripts/bench.sh throughput put at ~10% of the attributor's CPU. Under
// it, the fetch loop's connections read 64 KB at a time (15 times fewer
// reads; docs/BENCHMARKS.md, "Issue 13, session 13"); kafka-go's 4 KB
// reads are then copies from that buffer. One buffer per connection: one
// per assigned partition, and the short-lived ones that look its leader
// up.
const readBufSize = 64 << 10

// readBuffered returns a copy of d whose connections read their socket
// through a readBufSize buffer. The buffer is under TLS, when d has it
// (kafka-go wraps what DialFunc returns): it holds the bytes as they come
// from the socket, and TLS decrypts from it. d's own DialFunc is kept, or
// its net.Dialer settings when it has none.
func readBuffered(d *kafka.Dialer) *kafka.Dialer {
	c := *d
	dial := d.DialFunc
	if dial == nil {
		dial = (&net.Dialer{LocalAddr: d.LocalAddr, DualStack: d.DualStack, FallbackDelay: d.FallbackDelay, KeepAlive: d.KeepAlive}).DialContext
	}
	c.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return newBufferedConn(conn), nil
	}
	return &c
}

// bufferedConn is a net.Conn that reads through a buffer; everything else
// (Write, Close, the deadlines, the addresses) is the connection's own. A
// deadline bounds the reads of the socket: what the buffer holds is
// returned whatever the deadline, as it was read in time. Close may be
// called while a Read waits (it ends it), as on any net.Conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufSize)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

var _ net.Conn = (*bufferedConn)(nil)
