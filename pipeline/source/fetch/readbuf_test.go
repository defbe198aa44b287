package fetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// readSizes is a net.Conn that serves r and records how much each Read
// asked for.
type readSizes struct {
	net.Conn
	r     io.Reader
	sizes []int
}

func (c *readSizes) Read(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.r.Read(p)
}

// kafka-go reads its Conn 4 KB at a time; under it, the socket is read
// readBufSize at a time, and every byte comes through in order.
func TestBufferedConnReadsTheSocket64KBAtATime(t *testing.T) {
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	sock := &readSizes{r: bytes.NewReader(data)}
	got, err := io.ReadAll(bufio.NewReaderSize(newBufferedConn(sock), 4096)) // as kafka-go's Conn reads
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (err %v), want the %d written, in order", len(got), err, len(data))
	}
	for i, n := range sock.sizes {
		if n < readBufSize {
			t.Fatalf("socket read %d asked for %d bytes, want %d", i, n, readBufSize)
		}
	}
	if n := len(sock.sizes); n > len(data)/readBufSize+2 {
		t.Errorf("%d socket reads for %d bytes, want at most %d", n, len(data), len(data)/readBufSize+2)
	}
}

// loopback returns the two ends of a TCP connection.
func loopback(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// The wrapper is the connection in everything but the reads: its
// deadlines bound the socket's reads, writes reach the peer, the
// addresses are the socket's, and Close ends a read that waits.
func TestBufferedConnPassesThrough(t *testing.T) {
	raw, peer := loopback(t)
	c := newBufferedConn(raw)
	if c.LocalAddr() != raw.LocalAddr() || c.RemoteAddr() != raw.RemoteAddr() {
		t.Errorf("addresses %v %v, want the socket's %v %v", c.LocalAddr(), c.RemoteAddr(), raw.LocalAddr(), raw.RemoteAddr())
	}
	buf := make([]byte, 16)

	// A read deadline passes: the read fails with it, and the connection
	// reads again once it is moved.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the read deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := peer.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("read after the deadline moved: %q, %v", buf[:n], err)
	}
	c.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past SetDeadline's deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetDeadline(time.Time{})

	// Writes reach the peer.
	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.ReadFull(peer, buf[:7]); err != nil || string(buf[:n]) != "request" {
		t.Fatalf("the peer read %q, %v; want the request", buf[:n], err)
	}

	// Close ends a read that waits (the fetch loop's context closes the
	// connection under a fetch waiting on the broker).
	done := make(chan error, 1)
	go func() { _, err := c.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read ended by Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the read waiting")
	}
}

// readBuffered keeps the dialer's settings (TLS, SASL, timeouts, its own
// DialFunc) and only puts the buffer under the connections: kafka-go
// applies TLS to what DialFunc returns, so TLS runs over the buffered
// socket, and its handshake and reads work through it.
func TestReadBufferedKeepsTheDialersSettings(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ts.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 20<<10) // 320 KB
	var handshakes atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					handshakes.Add(1)
				}
				c.Write(data)
				io.Copy(io.Discard, c)
			}()
		}
	}()
	clientTLS := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	clientTLS.ServerName = "example.com" // httptest's certificate names it
	var dials atomic.Int64
	var last *bufferedConn
	inner := func(ctx context.Context, network, address string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	mech := plain.Mechanism{Username: "u", Password: "p"}
	d := &kafka.Dialer{Timeout: 7 * time.Second, ClientID: "attributor-test", TLS: clientTLS, SASLMechanism: mech, DialFunc: inner}
	b := readBuffered(d)
	if b.Timeout != d.Timeout || b.ClientID != d.ClientID || b.TLS != d.TLS || b.SASLMechanism != d.SASLMechanism {
		t.Fatalf("readBuffered changed the dialer's settings: %+v, want those of %+v", b, d)
	}
	if d.DialFunc == nil || dials.Load() != 0 {
		t.Fatal("readBuffered changed the dialer it was given")
	}
	// What kafka-go's dialer does with it: DialFunc, then TLS over it.
	wrap := b.DialFunc
	b.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := wrap(ctx, network, address)
		if bc, ok := c.(*bufferedConn); ok {
			last = bc
		}
		return c, err
	}
	b.SASLMechanism = nil // no Kafka broker here to authenticate with
	kc, err := b.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with TLS through the buffered connection: %v", err)
	}
	kc.Close()
	if dials.Load() != 1 || last == nil {
		t.Fatalf("%d dials through the dialer's own DialFunc, buffered %v; want 1, buffered", dials.Load(), last != nil)
	}
	for deadline := time.Now().Add(5 * time.Second); handshakes.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if handshakes.Load() != 1 {
		t.Fatal("the server saw no TLS handshake: the dialer's TLS was not applied over the buffered connection")
	}

	// TLS reads through the buffer, deadlines and all.
	raw, err := wrap(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, clientTLS)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(data))
	if _, err := io.ReadFull(bufio.NewReaderSize(tc, 4096), got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("TLS over the buffered connection: %v, data intact %v", err, bytes.Equal(got, data))
	}
	tc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := tc.Read(got[:1]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("TLS read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}
