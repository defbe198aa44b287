package main

import (
	"context"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/attributor/attributor/pipeline"
)

// telemetryLimits bound what a client of the metrics server can hold: a
// connection that does not finish its request headers in time is closed
// (slowloris), and no more than maxConns connections are open at once
// (more wait in the kernel's accept queue, holding none of the process's
// file descriptors, which the Kafka and ClickHouse connections need).
type telemetryLimits struct {
	readHeader, read, write, idle time.Duration
	maxConns                      int
}

// defaultTelemetryLimits suit Prometheus scrapes and health probes: a few
// clients, small requests, answers in well under a second.
var defaultTelemetryLimits = telemetryLimits{
	readHeader: 5 * time.Second,
	read:       10 * time.Second,
	write:      30 * time.Second,
	idle:       60 * time.Second,
	maxConns:   64,
}

// serveTelemetry serves Prometheus metrics and health endpoints.
func serveTelemetry(ctx context.Context, addr string, r *pipeline.Runner) (*http.Server, error) {
	mux, err := pipeline.TelemetryHandler(ctx, r)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := newTelemetryServer(mux, defaultTelemetryLimits)
	go srv.Serve(netutil.LimitListener(ln, defaultTelemetryLimits.maxConns))
	return srv, nil
}

// newTelemetryServer returns the server of h with the timeouts of lim; its
// listener must be limited to lim.maxConns by the caller.
func newTelemetryServer(h http.Handler, lim telemetryLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    16 << 10,
	}
}
