package main

import (
	"context"
	"net"
	"net/http"

	"github.com/attributor/attributor/pipeline"
)

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
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return srv, nil
}
