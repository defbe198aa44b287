package main

import (
	"context"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/attributor/attributor/pipeline"
)

// setupOTLPMetrics exports r's metrics (the same instruments as /metrics)
// over OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT variable is set; the exporter reads the
// other OTEL_EXPORTER_OTLP_* variables and the periodic reader
// OTEL_METRIC_EXPORT_INTERVAL (default 60 s) and OTEL_METRIC_EXPORT_TIMEOUT
// itself. It runs beside the Prometheus endpoint, not instead of it. The
// returned shutdown exports the final values once more: call it after Run
// has returned so that a collector sees the run's totals.
func setupOTLPMetrics(ctx context.Context, r *pipeline.Runner) (func(context.Context) error, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") == "" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlpmetrichttp.New(ctx)
	if err != nil {
		return nil, err
	}
	res, err := otelResource(ctx)
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
	if err := r.RegisterMetrics(mp); err != nil {
		mp.Shutdown(ctx)
		return nil, err
	}
	return mp.Shutdown, nil
}
