package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/netutil"
)

// startLimitedServer serves ok on 127.0.0.1 with lim, and reports the most
// connections the server held at once.
func startLimitedServer(t *testing.T, lim telemetryLimits) (addr string, peak func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Count the connections the process holds below the limiting listener:
	// a connection is counted once accepted and uncounted as soon as it is
	// closed, before the limiter frees its place (http.Server's ConnState
	// hooks run after that, so they would race the next accept).
	cl := &countingListener{Listener: ln}
	srv := newTelemetryServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), lim)
	go srv.Serve(netutil.LimitListener(cl, lim.maxConns))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), cl.most.Load
}

// countingListener counts the connections it accepted and that are not
// closed yet, and the most at once.
type countingListener struct {
	net.Listener
	open, most atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for m := l.most.Load(); n > m && !l.most.CompareAndSwap(m, n); m = l.most.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// Many clients that connect and send nothing hold at most maxConns of the
// server's connections (file descriptors); each is closed after the
// read-header timeout, so a real scrape gets through behind them.
func TestTelemetryHalfOpenConnectionsAreBounded(t *testing.T) {
	lim := telemetryLimits{readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: time.Second, maxConns: 8}
	addr, peak := startLimitedServer(t, lim)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond) // let the server accept what it will
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("a scrape behind 200 idle connections: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	if p := peak(); p > int64(lim.maxConns) {
		t.Fatalf("server held %d connections at once, limit %d", p, lim.maxConns)
	}
}

// A client sending its headers a byte at a time is cut off at the
// read-header timeout, however long it keeps trickling.
func TestTelemetrySlowlorisIsClosed(t *testing.T) {
	lim := telemetryLimits{readHeader: 300 * time.Millisecond, read: time.Hour, write: time.Hour, idle: time.Hour, maxConns: 8}
	addr, _ := startLimitedServer(t, lim)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // trickle one header byte every 50ms
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.Write([]byte("X")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // the server may answer 408 before closing
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("slowloris connection still open after 20s; read-header timeout is 300ms")
		}
		return // EOF or reset: closed by the server
	}
}
