package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/attributor/attributor/pipeline/flow"
)

var tracer = otel.Tracer(flow.InstrumentationName)

// RegisterMetrics publishes the runner's counters through mp. The hot path
// only does atomic adds; the instruments read them at collection time.
func (r *Runner) RegisterMetrics(mp metric.MeterProvider) error {
	m := mp.Meter(flow.InstrumentationName)
	var err error
	counter := func(name, unit, desc string, f func(Snapshot) int64) {
		if err != nil {
			return
		}
		_, err = m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(f(r.Snapshot()))
				return nil
			}))
	}
	gauge := func(name, unit, desc string, f func(Snapshot) int64) {
		if err != nil {
			return
		}
		_, err = m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(f(r.Snapshot()))
				return nil
			}))
	}
	if err == nil {
		_, err = m.Int64ObservableCounter(flow.MetricEvents, metric.WithUnit("{event}"), metric.WithDescription("Valid events consumed, by topic."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				s := r.Snapshot()
				o.Observe(s.Touchpoints, metric.WithAttributes(attribute.String(flow.AttrTopic, r.cfg.TouchpointsTopic)))
				o.Observe(s.Conversions, metric.WithAttributes(attribute.String(flow.AttrTopic, r.cfg.ConversionsTopic)))
				o.Observe(s.Spend, metric.WithAttributes(attribute.String(flow.AttrTopic, r.cfg.SpendTopic)))
				o.Observe(s.Identities, metric.WithAttributes(attribute.String(flow.AttrTopic, r.cfg.IdentitiesTopic)))
				return nil
			}))
	}
	if err == nil {
		_, err = m.Int64ObservableCounter(flow.MetricMispartitioned, metric.WithUnit("{event}"),
			metric.WithDescription("Events consumed away from their key's home partition (murmur2 of the attribution key mod the repartition topic's partitions), by topic: forwarded there and credited as any other."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				s := r.Snapshot()
				o.Observe(s.MispartitionedTouchpoints, metric.WithAttributes(attribute.String(flow.AttrTopic, r.cfg.TouchpointsTopic)))
				o.Observe(s.MispartitionedConversions, metric.WithAttributes(attribute.String(flow.AttrTopic, r.cfg.ConversionsTopic)))
				return nil
			}))
	}
	if err == nil {
		_, err = m.Int64ObservableCounter(flow.MetricForwarded, metric.WithUnit("{event}"),
			metric.WithDescription("Events forwarded to the owner of their key's home partition through the repartition topic, by kind (acknowledged by Kafka); kind link: identity events and the links of events carrying both ids, to their anonymous_id's home."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				s := r.Snapshot()
				o.Observe(s.ForwardedTouchpoints, metric.WithAttributes(attribute.String(flow.AttrKind, "touchpoint")))
				o.Observe(s.ForwardedConversions, metric.WithAttributes(attribute.String(flow.AttrKind, "conversion")))
				o.Observe(s.ForwardedLinks, metric.WithAttributes(attribute.String(flow.AttrKind, "link")))
				return nil
			}))
	}
	if err == nil {
		_, err = m.Int64ObservableCounter(flow.MetricLinks, metric.WithUnit("{link}"),
			metric.WithDescription("Links anonymous_id → user_id that decided a device's user (a first link, or an earlier one taking over), by origin: identity (identity events) or event (touchpoints and conversions carrying both ids)."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				s := r.Snapshot()
				o.Observe(s.LinksIdentity, metric.WithAttributes(attribute.String(flow.AttrOrigin, flow.LinkFromIdentity)))
				o.Observe(s.LinksEvent, metric.WithAttributes(attribute.String(flow.AttrOrigin, flow.LinkFromEvent)))
				return nil
			}))
	}
	if err == nil {
		_, err = m.Int64ObservableCounter(flow.MetricReattributed, metric.WithUnit("{conversion}"),
			metric.WithDescription("Conversions attributed again, once durable, by cause: late (a late touchpoint) or link (a device's events joined or left the path)."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				s := r.Snapshot()
				o.Observe(s.Reattributed-s.ReattributedLink, metric.WithAttributes(attribute.String(flow.AttrCause, "late")))
				o.Observe(s.ReattributedLink, metric.WithAttributes(attribute.String(flow.AttrCause, "link")))
				return nil
			}))
	}
	counter(flow.MetricInvalid, "{event}", "Events dead-lettered as unusable (bad JSON, missing or malformed fields, oversize).", func(s Snapshot) int64 { return s.Invalid })
	counter(flow.MetricTooLate, "{event}", "Touchpoints older than the re-attribution horizon (stored, dead-lettered as too_late).", func(s Snapshot) int64 { return s.TooLate })
	counter(flow.MetricFuture, "{event}", "Events stamped more than --max-future-skew after the time they were consumed (dead-lettered as future).", func(s Snapshot) int64 { return s.Future })
	counter(flow.MetricDuplicates, "{event}", "Events already seen, by event_id.", func(s Snapshot) int64 { return s.Duplicates })
	counter(flow.MetricSkipped, "{message}", "Uncommitted messages that retention deleted before they were consumed (never attributed).", func(s Snapshot) int64 { return s.Skipped })
	counter(flow.MetricFetches, "{request}", "Fetch requests sent to Kafka, every partition's (a live partition is fetched about every 20 ms, an idle one every 500 ms).", func(s Snapshot) int64 { return s.Fetches })
	counter(flow.MetricDeadLetters, "{record}", "Records written to the dead-letter topic.", func(s Snapshot) int64 { return s.DeadLetters })
	counter(flow.MetricDeadLost, "{record}", "Dead letters the broker refused as too large even when cut: logged with their source offsets, not written.", func(s Snapshot) int64 { return s.DeadLettersLost })
	counter(flow.MetricAttributed, "{conversion}", "Conversions attributed, once their credited rows are durable in ClickHouse.", func(s Snapshot) int64 { return s.Attributed })
	counter(flow.MetricLinkConflicts, "{link}", "Links of a device to a second user (a shared device): stored, counted, never applied.", func(s Snapshot) int64 { return s.LinkConflicts })
	counter(flow.MetricLinksTooLate, "{event}", "Identity events older than the re-attribution horizon: stored, dead-lettered as too_late, applied only to later events.", func(s Snapshot) int64 { return s.LinksTooLate })
	counter(flow.MetricRetractions, "{conversion}", "Credits retracted under a day their conversion left: a copy stamped on an earlier day became the conversion after its first credit was stored.", func(s Snapshot) int64 { return s.Retractions })
	counter(flow.MetricMoves, "{device}", "Devices whose events changed key after a link (moved to their user's path, re-attributing what changed).", func(s Snapshot) int64 { return s.Moves })
	counter(flow.MetricPathsCapped, "{conversion}", "Attributions whose path was cut to the latest max_path_touchpoints touchpoints (a re-attribution counts again).", func(s Snapshot) int64 { return s.PathsCapped })
	counter(flow.MetricModelSkipped, "{conversion}", "Attributions a data-driven model (markov, shapley) gave no rows because no fit was stored yet; one per model.", func(s Snapshot) int64 { return s.ModelSkipped })
	counter(flow.MetricCreditedRows, "{row}", "Credited rows acknowledged by ClickHouse.", func(s Snapshot) int64 { return s.CreditedRows })
	counter(flow.MetricRawRows, "{row}", "Raw event rows acknowledged by ClickHouse.", func(s Snapshot) int64 { return s.RawRows })
	counter(flow.MetricInsertBatches, "{batch}", "ClickHouse insert batches acknowledged.", func(s Snapshot) int64 { return s.InsertBatches })
	counter(flow.MetricInsertErrors, "{batch}", "ClickHouse insert attempts that failed (and were retried).", func(s Snapshot) int64 { return s.InsertErrors })
	counter(flow.MetricRefused, "{row}", "Rows ClickHouse refused for their values (cannot parse, out of range, ...): dead-lettered with reason refused and the server's message; the rest of their batch is written.", func(s Snapshot) int64 { return s.Refused })
	counter(flow.MetricHistoryLoads, "{user}", "Users whose history was reloaded from ClickHouse.", func(s Snapshot) int64 { return s.HistoryLoads })
	counter(flow.MetricCommits, "{commit}", "Offset commits.", func(s Snapshot) int64 { return s.Commits })
	gauge(flow.MetricPending, "{conversion}", "Conversions waiting for the touchpoint watermark.", func(s Snapshot) int64 { return s.Pending })
	gauge(flow.MetricLag, "{message}", "Messages behind the high watermark over the assigned partitions.", func(s Snapshot) int64 { return s.Lag })
	gauge(flow.MetricWatermarkDelay, "ms", "Wall clock minus the slowest touchpoint partition's event-time watermark.", func(s Snapshot) int64 { return s.WatermarkDelay.Milliseconds() })
	gauge(flow.MetricUsers, "{user}", "Users held in memory.", func(s Snapshot) int64 { return s.UsersInMemory })
	gauge(flow.MetricInsertLatency, "ms", "Duration of the last acknowledged ClickHouse insert batch.", func(s Snapshot) int64 { return s.LastInsert.Milliseconds() })
	return err
}

// TelemetryHandler serves /metrics (Prometheus text, through the OTel
// Prometheus exporter), /healthz (the process is alive) and /readyz (Kafka
// and ClickHouse answer).
func TelemetryHandler(ctx context.Context, r *Runner) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	if err := r.RegisterMetrics(mp); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ready := &readiness{r: r}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if err := ready.check(req.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux, nil
}

// readiness checks the services at most once a second.
type readiness struct {
	r    *Runner
	mu   sync.Mutex
	at   time.Time
	last error
}

func (c *readiness) check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < time.Second {
		return c.last
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c.at, c.last = time.Now(), nil
	if err := c.r.conn.Ping(ctx); err != nil {
		c.last = fmt.Errorf("clickhouse: %w", err)
		return c.last
	}
	if _, err := c.r.src.Client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.r.cfg.TouchpointsTopic}}); err != nil {
		c.last = fmt.Errorf("kafka: %w", err)
	}
	return c.last
}
