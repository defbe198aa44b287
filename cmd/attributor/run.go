package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/rollup"
	"github.com/attributor/attributor/schemas"
)

func init() {
	register("run", "consume Kafka, attribute conversions, write to ClickHouse", runRun)
	register("migrate", "create the ClickHouse database, tables and views (idempotent)", runMigrate)
}

// serviceFlags are the connection flags shared by run and migrate.
type serviceFlags struct {
	clickhouse, database, chUser *string
	cluster                      *string
	tls                          *tlsFlags
	compress                     *string
}

func addServiceFlags(e *envFlags) *serviceFlags {
	e.Group("ClickHouse")
	return &serviceFlags{
		clickhouse: e.String("clickhouse", "ATTRIBUTOR_CLICKHOUSE", "127.0.0.1:9000", "ClickHouse native protocol `host:port`"),
		database:   e.String("database", "ATTRIBUTOR_DATABASE", "attribution", "ClickHouse `database`"),
		cluster:    e.String("cluster", "ATTRIBUTOR_CLUSTER", "", "ClickHouse `cluster` (remote_servers name): replicated tables ON CLUSTER behind Distributed tables; empty for a single server"),
		chUser:     e.String("clickhouse-user", "ATTRIBUTOR_CLICKHOUSE_USER", "default", "ClickHouse `user`; the password comes from ATTRIBUTOR_CLICKHOUSE_PASSWORD or the file named by ATTRIBUTOR_CLICKHOUSE_PASSWORD_FILE"),
		tls:        addTLSFlags(e, "clickhouse", "ATTRIBUTOR_CLICKHOUSE"),
		compress:   e.String("clickhouse-compression", "ATTRIBUTOR_CLICKHOUSE_COMPRESSION", "auto", "compression of ClickHouse traffic: auto (none to a loopback address, lz4 elsewhere), lz4 or none"),
	}
}

func (s *serviceFlags) clickHouseConfig() (pipeline.ClickHouseConfig, error) {
	pw, err := secret("ATTRIBUTOR_CLICKHOUSE_PASSWORD")
	if err != nil {
		return pipeline.ClickHouseConfig{}, err
	}
	if *s.cluster != "" {
		if err := schemas.ValidIdentifier(*s.cluster); err != nil {
			return pipeline.ClickHouseConfig{}, fmt.Errorf("cluster: %w", err)
		}
	}
	return pipeline.ClickHouseConfig{Addr: *s.clickhouse, Database: *s.database, Cluster: *s.cluster, Username: *s.chUser, Password: pw, TLS: s.tls.options(), Compression: *s.compress}, nil
}

// attributionFlags are the model parameters shared by run and replay.
func addAttributionFlags(e *envFlags) func() (attribution.Config, error) {
	e.Group("Models and windows")
	models := e.String("models", "ATTRIBUTOR_MODELS", strings.Join(attribution.ModelNames, ","), "comma-separated `models`, or \"all\"")
	lookback := e.Duration("lookback", "ATTRIBUTOR_LOOKBACK", attribution.DefaultLookback, "click lookback window")
	view := e.Duration("view-window", "ATTRIBUTOR_VIEW_WINDOW", attribution.DefaultViewWindow, "impression (view-through) window, capped by --lookback")
	halfLife := e.Duration("half-life", "ATTRIBUTOR_HALF_LIFE", attribution.DefaultHalfLife, "half-life of time_decay")
	first := e.Float("first-share", "ATTRIBUTOR_FIRST_SHARE", attribution.DefaultFirstShare, "position_based share of the first touchpoint")
	last := e.Float("last-share", "ATTRIBUTOR_LAST_SHARE", attribution.DefaultLastShare, "position_based share of the last touchpoint")
	reset := e.Bool("reset-on-conversion", "ATTRIBUTOR_RESET_ON_CONVERSION", false, "credit a conversion only to touchpoints after the user's previous conversion")
	maxPath := e.Int("max-path-touchpoints", "ATTRIBUTOR_MAX_PATH_TOUCHPOINTS", attribution.DefaultMaxPathTouchpoints, "credit only the latest `n` touchpoints within a conversion's windows (bounds the rows of a heavy user's conversions)")
	return func() (attribution.Config, error) {
		cfg := attribution.Config{
			Models: attribution.ParseModels(*models), Lookback: *lookback, ViewWindow: *view, HalfLife: *halfLife,
			FirstShare: *first, LastShare: *last, ResetOnConversion: *reset, MaxPathTouchpoints: *maxPath,
		}
		// Validated once, by the attribution package; its field names
		// become the flags' names for the user.
		if err := cfg.ValidateSet(); err != nil {
			return cfg, errors.New(attributionFlagNames.Replace(err.Error()))
		}
		return cfg, nil
	}
}

// attributionFlagNames turns attribution.Config's field names in its
// errors into the flags that set them.
var attributionFlagNames = strings.NewReplacer(
	"view_window", "view-window", "half_life", "half-life", "first_share", "first-share",
	"last_share", "last-share", "max_path_touchpoints", "max-path-touchpoints")

// parseFlags parses the flags of a command without positional arguments
// (see parseArgs).
func parseFlags(fs *flag.FlagSet, e *envFlags, args []string, stderr io.Writer, name string) (int, bool) {
	pos, code, ok := parseArgs(fs, e, args, stderr, name, false)
	if ok && len(pos) > 0 {
		return exitUsage(fs, stderr, name, fmt.Sprintf("unexpected argument %q", pos[0])), false
	}
	return code, ok
}

func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	var (
		brokers     = e.Group("Input (Kafka)").String("brokers", "ATTRIBUTOR_BROKERS", pipeline.DefaultBroker, "comma-separated Kafka `brokers`")
		tpTopic     = e.String("touchpoints-topic", "ATTRIBUTOR_TOUCHPOINTS_TOPIC", pipeline.DefaultTouchpointsTopic, "touchpoints `topic`")
		cvTopic     = e.String("conversions-topic", "ATTRIBUTOR_CONVERSIONS_TOPIC", pipeline.DefaultConversionsTopic, "conversions `topic`")
		dlqTopic    = e.String("dlq-topic", "ATTRIBUTOR_DLQ_TOPIC", pipeline.DefaultDLQTopic, "dead-letter `topic`")
		spendTopic  = e.String("spend-topic", "ATTRIBUTOR_SPEND_TOPIC", pipeline.DefaultSpendTopic, "ad-spend `topic` (optional: consumed when it exists)")
		idsTopic    = e.String("identities-topic", "ATTRIBUTOR_IDENTITIES_TOPIC", pipeline.DefaultIdentitiesTopic, "identity events `topic` (optional: when it exists, each device's anonymous events are stitched to its user)")
		group       = e.String("group", "ATTRIBUTOR_GROUP", pipeline.DefaultGroup, "consumer `group`; its internal topic is <group>.repartition")
		repartParts = e.Int("repartition-partitions", "ATTRIBUTOR_REPARTITION_PARTITIONS", 0, "partitions of the internal topic <group>.repartition, created at start when missing: events consumed away from their key's home partition (murmur2 of the key mod this count) are forwarded through it (default: the existing topic's count, else the touchpoints topic's; it can never change for a group)")
		kafkaSec    = addKafkaSecurityFlags(e)
		svc         = addServiceFlags(e)
		attrCfg     = addAttributionFlags(e)
		rules       = e.String("channel-rules", "ATTRIBUTOR_CHANNEL_RULES", "", "channel grouping rules JSON `file` (default: built-in grouping)")
		lateness    = e.Duration("allowed-lateness", "ATTRIBUTOR_ALLOWED_LATENESS", pipeline.DefaultAllowedLateness, "event time a conversion waits for the touchpoint watermark")
		horizon     = e.Duration("horizon", "ATTRIBUTOR_HORIZON", pipeline.DefaultHorizon, "re-attribution horizon: older touchpoints are dead-lettered as too_late")
		futureSkew  = e.Duration("max-future-skew", "ATTRIBUTOR_MAX_FUTURE_SKEW", time.Hour, "events stamped more than this after the time they are consumed (broker timestamp, else wall clock) are dead-lettered as future; at most --horizon")
		sessionGap  = e.Duration("session-gap", "ATTRIBUTOR_SESSION_GAP", pipeline.DefaultSessionGap, "inactivity that starts a new session")
		mOrder      = e.Group("Data-driven models (markov, shapley)").Int("markov-order", "ATTRIBUTOR_MARKOV_ORDER", pipeline.DefaultMarkovOrder, "order `k` (1-4) of the markov fit applied")
		fitPoll     = e.Duration("fit-poll", "ATTRIBUTOR_FIT_POLL", pipeline.DefaultFitPoll, "how often model_fits is read for a newer fit")
		fitEvery    = e.Duration("fit-every", "ATTRIBUTOR_FIT_EVERY", 0, "refit the data-driven models in-process this often on the trailing --fit-window, and store the fits (0: off: fits come from attributor fit)")
		fitWindow   = e.Duration("fit-window", "ATTRIBUTOR_FIT_WINDOW", attribution.DefaultLookback, "training window of --fit-every, ending just after the latest event stored")
		shards      = e.Group("Operations and telemetry").Int("shards", "ATTRIBUTOR_SHARDS", 0, "state shards (default GOMAXPROCS)")
		maxUsers    = e.Int("max-users", "ATTRIBUTOR_MAX_USERS", pipeline.DefaultMaxUsers, "users held in memory; more are evicted and reloaded from ClickHouse")
		flushRows   = e.Int("flush-rows", "ATTRIBUTOR_FLUSH_ROWS", pipeline.DefaultFlushRows, "rows per ClickHouse insert")
		flushEvery  = e.Duration("flush-interval", "ATTRIBUTOR_FLUSH_INTERVAL", pipeline.DefaultFlushInterval, "longest wait before an insert")
		blogRows    = e.Int("backlog-flush-rows", "ATTRIBUTOR_BACKLOG_FLUSH_ROWS", pipeline.DefaultBacklogFlushRows, "rows per ClickHouse insert while the consumer is behind by --flush-rows messages or more (fewer, larger inserts cost ClickHouse less CPU)")
		blogEvery   = e.Duration("backlog-flush-interval", "ATTRIBUTOR_BACKLOG_FLUSH_INTERVAL", pipeline.DefaultBacklogFlushInterval, "longest wait before an insert while the consumer is behind")
		rawEvery    = e.Duration("raw-flush-interval", "ATTRIBUTOR_RAW_FLUSH_INTERVAL", pipeline.DefaultRawFlushInterval, "longest wait of the raw rows (touchpoints, identities, links, ad spend) and rollup marks, written together for the batches whose credits and conversions went out every --flush-interval; offsets wait for them")
		rollEvery   = e.Duration("rollup-every", "ATTRIBUTOR_ROLLUP_EVERY", pipeline.DefaultRollupEvery, "roll up the quiet days for the aggregate views this often, as attributor rollup does (0: off)")
		rollQuiet   = e.Duration("rollup-quiet", "ATTRIBUTOR_ROLLUP_QUIET", rollup.DefaultQuiet, "roll up a day once nothing was written into it for this long")
		metrics     = e.String("metrics-addr", "ATTRIBUTOR_METRICS_ADDR", "", "serve Prometheus /metrics, /healthz and /readyz on `host:port` (off when empty)")
		untilDone   = e.Bool("until-caught-up", "ATTRIBUTOR_UNTIL_CAUGHT_UP", false, "consume what the topics hold now, attribute everything, commit and exit")
		progress    = e.Duration("progress", "ATTRIBUTOR_PROGRESS", 5*time.Second, "progress line interval on stderr (0: off)")
		logRejects  = e.Int("log-rejections", "ATTRIBUTOR_LOG_REJECTIONS", 5, "rejected events logged per reason (with topic, partition, offset and why); the rest are counted in the summary (0: none)")
		logLevel    = e.String("log-level", "ATTRIBUTOR_LOG_LEVEL", "warn", "log `level`: debug, info, warn, error")
		maxMsg      = e.Size("max-message-bytes", "ATTRIBUTOR_MAX_MESSAGE_BYTES", "largest input message, key + value + headers, a `size` such as 1MiB; larger ones are dead-lettered as oversize (default 1MiB)")
		memLimit    = e.Size("memory-limit", "ATTRIBUTOR_MEMORY_LIMIT", "soft memory limit of the Go runtime, a `size` such as 512MiB, 2GiB or bytes (debug.SetMemoryLimit: the GC works harder near it; with a limit and GOGC unset, the GC lets the heap grow to 3x the live heap below it, GOGC=200); overrides GOMEMLIMIT (default: GOMEMLIMIT, else none)")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile of the run to `file` (for performance work)")
		memProfile  = fs.String("memprofile", "", "write a heap profile to `file` when the run is asked to stop (SIGINT/SIGTERM), with its state still held, or at its end")
	)
	fs.Usage = e.help(stdout, "usage: attributor run [flags]\n\nConsumes touchpoints and conversions from Kafka as a consumer group, attributes\nconversions once the touchpoint watermark passes them and writes the credits to\nClickHouse. SIGINT/SIGTERM: stop fetching, write, commit, exit 0; a second\nsignal aborts. Durations take s, m, h and d (days): 90s, 12h, 30d, 1d12h.")
	if code, ok := parseFlags(fs, e, args, stderr, "run"); !ok {
		return code
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return exitUsage(fs, stderr, "run", err.Error())
	}
	chCfg, err := svc.clickHouseConfig()
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: %v\n", err)
		return 2
	}
	sec, err := kafkaSec()
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: %v\n", err)
		return 2
	}
	acfg, err := attrCfg()
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: invalid configuration:\n%v\n", err)
		return 2
	}
	cfg := pipeline.Config{
		Brokers: splitList(*brokers), TouchpointsTopic: *tpTopic, ConversionsTopic: *cvTopic, DLQTopic: *dlqTopic, SpendTopic: *spendTopic, IdentitiesTopic: *idsTopic, Group: *group, RepartitionPartitions: *repartParts, Kafka: sec,
		ClickHouse: chCfg, Attribution: acfg,
		AllowedLateness: *lateness, Horizon: *horizon, MaxFutureSkew: *futureSkew, SessionGap: *sessionGap,
		MarkovOrder: *mOrder, FitPoll: *fitPoll, FitEvery: *fitEvery, FitWindow: *fitWindow,
		Shards: *shards, MaxUsers: *maxUsers, FlushRows: *flushRows, FlushInterval: *flushEvery,
		BacklogFlushRows: *blogRows, BacklogFlushInterval: *blogEvery, RawFlushInterval: *rawEvery,
		RollupEvery: offIfZero(*rollEvery), RollupQuiet: offIfZero(*rollQuiet),
		UntilCaughtUp: *untilDone, Logger: log, LogRejections: *logRejects,
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"fit-poll", *fitPoll}, {"fit-window", *fitWindow}} {
		if d.v <= 0 {
			fmt.Fprintf(stderr, "attributor run: invalid configuration:\n%s: must be > 0, got %s\n", d.name, d.v)
			return 2
		}
	}
	if *logRejects == 0 {
		cfg.LogRejections = -1 // none; zero in Config means the default
	}
	if maxMsg.set {
		if maxMsg.n <= 0 || maxMsg.n > 1<<30 {
			fmt.Fprintf(stderr, "attributor run: invalid configuration:\nmax-message-bytes: must be in (0, 1GiB], got %s\n", maxMsg)
			return 2
		}
		cfg.MaxMessageBytes = int(maxMsg.n)
	}
	if *rules != "" {
		b, err := readFileLimited(*rules, maxRulesFile)
		if err != nil {
			fmt.Fprintf(stderr, "attributor run: channel-rules: %v\n", err)
			return 2
		}
		if cfg.Channels, err = schemas.ParseChannelRules(b); err != nil {
			fmt.Fprintf(stderr, "attributor run: %s: %v\n", *rules, err)
			return 2
		}
	}
	if *progress > 0 {
		cfg.ProgressInterval = *progress
		cfg.Progress = progressPrinter(stderr)
	}
	if err := cfg.WithDefaults().Validate(); err != nil {
		fmt.Fprintf(stderr, "attributor run: invalid configuration:\n%v\n", err)
		return 2
	}
	if memLimit.set && memLimit.n <= 0 {
		fmt.Fprintf(stderr, "attributor run: invalid configuration:\nmemory-limit: must be > 0, got %s\n", memLimit)
		return 2
	}
	applyMemoryLimit(memLimit, log)

	prof, err := openProfiles(*cpuProfile, *memProfile)
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: %v\n", err)
		return 2
	}
	ctx, stop := signalContext(stderr, prof.writeHeap)
	defer stop()
	shutdownTracing, err := setupTracing(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: tracing: %v\n", err)
		return 2
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdownTracing(sctx)
	}()
	startCtx, cancelStart := context.WithTimeout(ctx, 60*time.Second)
	runner, err := pipeline.NewRunner(startCtx, cfg)
	cancelStart()
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: %v\n", err)
		return 1
	}
	defer runner.Close()
	shutdownMetrics, err := setupOTLPMetrics(ctx, runner)
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: otlp metrics: %v\n", err)
		return 2
	}
	defer func() { // before runner.Close (defers run last first): exports the run's totals
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdownMetrics(sctx)
	}()
	if *metrics != "" {
		srv, err := serveTelemetry(ctx, *metrics, runner)
		if err != nil {
			fmt.Fprintf(stderr, "attributor run: metrics-addr: %v\n", err)
			return 1
		}
		defer srv.Close()
	}
	if err := prof.startCPU(); err != nil {
		fmt.Fprintf(stderr, "attributor run: %v\n", err)
		return 2
	}
	err = runner.Run(ctx)
	prof.stop()
	if err != nil {
		fmt.Fprintf(stderr, "attributor run: %v\n", err)
		return 1
	}
	printSummary(stderr, runner.Snapshot())
	return 0
}

// signalContext is cancelled by the first SIGINT or SIGTERM, after
// beforeStop has run; a second one exits at once.
func signalContext(stderr io.Writer, beforeStop func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		fmt.Fprintf(stderr, "attributor: %s: stopping (finishing in-flight work; send again to abort)\n", sig)
		beforeStop()
		cancel()
		if _, ok := <-ch; ok {
			fmt.Fprintln(stderr, "attributor: aborted")
			os.Exit(130)
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel() }
}

func progressPrinter(w io.Writer) func(pipeline.Snapshot) {
	var last pipeline.Snapshot
	return func(s pipeline.Snapshot) {
		events := s.Touchpoints + s.Conversions + s.Spend + s.Identities + s.Invalid + s.Future
		prev := last.Touchpoints + last.Conversions + last.Spend + last.Identities + last.Invalid + last.Future
		rate := 0.0
		if dt := (s.Elapsed - last.Elapsed).Seconds(); dt > 0 {
			rate = float64(events-prev) / dt
		}
		// Credited counts only what ClickHouse acknowledged.
		fetchRate := 0.0
		if dt := (s.Elapsed - last.Elapsed).Seconds(); dt > 0 {
			fetchRate = float64(s.Fetches-last.Fetches) / dt
		}
		fmt.Fprintf(w, "attributor: %6.1fs  events %d (%.0f/s)  lag %d  credited %d conversions, %d rows  pending %d  users %d  dead letters %d  kafka fetches %.0f/s%s\n",
			s.Elapsed.Seconds(), events, rate, s.Lag, s.Attributed, s.CreditedRows, s.Pending, s.UsersInMemory, s.DeadLetters, fetchRate, failing(s))
		last = s
	}
}

// failing says, when writes are failing, for how long (and that they are
// being retried): the progress line's counts then stand still.
func failing(s pipeline.Snapshot) string {
	if s.WritesFailingFor <= 0 {
		return ""
	}
	return fmt.Sprintf("  WRITES FAILING for %s (retrying; nothing more is credited until ClickHouse takes rows)", s.WritesFailingFor.Round(time.Second))
}

func printSummary(w io.Writer, s pipeline.Snapshot) {
	events := s.Touchpoints + s.Conversions + s.Spend + s.Identities + s.Invalid + s.Future
	fmt.Fprintf(w, "attributor: done in %.1fs: %d events (%.0f/s): %d touchpoints, %d conversions, %d spend, %d identities, %d invalid, %d duplicates, %d too late, %d future; %d conversions attributed (%d re-attributed, %d paths capped to max-path-touchpoints), %d credited rows, %d dead letters (%d lost: too large for the dead-letter topic)\n",
		s.Elapsed.Seconds(), events, float64(events)/max(s.Elapsed.Seconds(), 1e-9), s.Touchpoints, s.Conversions, s.Spend, s.Identities, s.Invalid, s.Duplicates, s.TooLate, s.Future,
		s.Attributed, s.Reattributed, s.PathsCapped, s.CreditedRows, s.DeadLetters, s.DeadLettersLost)
	fmt.Fprintf(w, "attributor: %d Kafka fetch requests (%.0f/s)\n", s.Fetches, float64(s.Fetches)/max(s.Elapsed.Seconds(), 1e-9))
	if len(s.Rejected) > 0 {
		fmt.Fprintf(w, "attributor: rejected (dead-lettered) by reason: %s\n", rejectedList(s.Rejected))
	}
	if s.Refused > 0 {
		fmt.Fprintf(w, "attributor: warning: ClickHouse refused %d rows for their values: dead-lettered with reason refused (attributor.table and attributor.error say where and why), the rest written\n", s.Refused)
	}
	if n := s.ForwardedTouchpoints + s.ForwardedConversions; n > 0 {
		fmt.Fprintf(w, "attributor: forwarded %d events to their home partition through the repartition topic (%d touchpoints, %d conversions): credited as any other; producers keying by the attribution key with murmur2 into as many partitions as the repartition topic save the forward (kcat: -X partitioner=murmur2_random)\n",
			n, s.ForwardedTouchpoints, s.ForwardedConversions)
	}
	if s.Identities+s.LinksIdentity+s.LinksEvent+s.LinkConflicts+s.Moves > 0 {
		fmt.Fprintf(w, "attributor: stitching: %d identity events; %d links decided a device's user (%d from identity events, %d from events carrying both ids), %d conflicts (a device linked to a second user: not applied), %d identity events too late; %d devices moved to their user, %d conversions re-attributed by links\n",
			s.Identities, s.LinksIdentity+s.LinksEvent, s.LinksIdentity, s.LinksEvent, s.LinkConflicts, s.LinksTooLate, s.Moves, s.ReattributedLink)
	}
	if s.ForwardedLinks > 0 {
		fmt.Fprintf(w, "attributor: forwarded %d identity events and links to their anonymous_id's home partition through the repartition topic\n", s.ForwardedLinks)
	}
}

// rejectedList is "3 invalid json, 1 too_late".
func rejectedList(rs []pipeline.ReasonCount) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d %s", r.Count, r.Reason)
	}
	return strings.Join(parts, ", ")
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	svc := addServiceFlags(e)
	fs.Usage = e.help(stdout, "usage: attributor migrate [flags]\n\nCreates the database, tables and views of schemas/clickhouse/*.sql and records\nthe schema version; safe to run again, and from several instances at once.\nRefuses a database that a newer attributor migrated.")
	if code, ok := parseFlags(fs, e, args, stderr, "migrate"); !ok {
		return code
	}
	chCfg, err := svc.clickHouseConfig()
	if err == nil {
		err = schemas.ValidIdentifier(chCfg.Database)
	}
	if err != nil {
		fmt.Fprintf(stderr, "attributor migrate: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pipeline.OpenClickHouse(ctx, chCfg)
	if err != nil {
		fmt.Fprintf(stderr, "attributor migrate: %v\n", err)
		return 1
	}
	defer conn.Close()
	if err := pipeline.MigrateConfig(ctx, conn, chCfg); err != nil {
		fmt.Fprintf(stderr, "attributor migrate: %v\n", err)
		return 1
	}
	where := chCfg.Addr
	if chCfg.Cluster != "" {
		where = "cluster " + chCfg.Cluster + " (through " + chCfg.Addr + ")"
	}
	fmt.Fprintf(stdout, "migrated database %s on %s to schema version %d\n", chCfg.Database, where, schemas.SchemaVersion)
	return 0
}
