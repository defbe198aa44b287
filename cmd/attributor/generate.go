package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
)

func init() {
	register("generate", "generate a day of realistic traffic into NDJSON files or Kafka", runGenerate)
}

func runGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	var (
		seed       = e.Group("Traffic").fs.Int64("seed", 1, "random seed: the same flags give byte-identical events")
		users      = fs.Int("users", generate.DefaultUsers, "number of users")
		events     = fs.Int("events", 0, "target number of events (replaces --users when > 0)")
		start      = fs.String("start", generate.DefaultStart.Format(time.RFC3339), "start of the traffic, RFC 3339")
		duration   = fs.Duration("duration", generate.DefaultDuration, "span of the traffic")
		loggedOut  = fs.Float64("logged-out-share", 0, "share `S` of users (with a user_id) whose journey starts logged out: device events under anonymous_id, a login identity event (some late), shared devices; 0 makes no identity events")
		outDir     = e.Group("Output").fs.String("out", "", "write `DIR`/touchpoints.ndjson and DIR/conversions.ndjson (and DIR/identities.ndjson with --logged-out-share)")
		addr       = fs.String("kafka", "", "produce to the Kafka broker at `host:port`")
		tpTopic    = fs.String("touchpoints-topic", generate.DefaultTouchpointsTopic, "Kafka topic of the touchpoints")
		cvTopic    = fs.String("conversions-topic", generate.DefaultConversionsTopic, "Kafka topic of the conversions")
		idTopic    = fs.String("identities-topic", generate.DefaultIdentitiesTopic, "Kafka topic of the identity events (with --logged-out-share)")
		partitions = fs.Int("partitions", 4, "partitions of the topics that --create-topics creates (and expects)")
		create     = fs.Bool("create-topics", false, "create missing topics; fail if a topic has another partition count")
		convFirst  = fs.Bool("conversions-first", false, "produce all conversions before the touchpoints")
		rate       = fs.Float64("rate", 0, "produce live: `N` events/s, each stamped with the time it is produced (needs --kafka; --events/--users say how many)")
	)
	fs.Usage = e.help(stdout, "usage: attributor generate [--seed N] [--users N | --events N] (--out DIR | --kafka ADDR) [flags]\n\nGenerates deterministic traffic: users with multi-touch journeys, conversions, ~1% duplicates.")
	if code, ok := parseFlags(fs, e, args, stderr, "generate"); !ok {
		return code
	}
	if *outDir == "" && *addr == "" {
		return exitUsage(fs, stderr, "generate", "--out or --kafka is required")
	}
	if *rate < 0 || *rate > 0 && (*addr == "" || *outDir != "" || *convFirst) {
		return exitUsage(fs, stderr, "generate", "--rate: must be > 0, with --kafka and without --out or --conversions-first")
	}
	startTime, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return exitUsage(fs, stderr, "generate", fmt.Sprintf("--start: %v", err))
	}
	cfg := generate.Config{Seed: *seed, Users: *users, Events: *events, Start: startTime, Duration: *duration, LoggedOutShare: *loggedOut}
	if err := cfg.WithDefaults().Validate(); err != nil {
		fmt.Fprintf(stderr, "attributor generate: invalid configuration:\n%v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := genOutput{dir: *outDir, addr: *addr, tpTopic: *tpTopic, cvTopic: *cvTopic, idTopic: *idTopic, partitions: *partitions, create: *create, convFirst: *convFirst, rate: *rate}
	if err := generateTraffic(ctx, cfg, out, stderr); err != nil {
		fmt.Fprintf(stderr, "attributor generate: %v\n", err)
		return 1
	}
	return 0
}

// genOutput is where and how generate writes the traffic.
type genOutput struct {
	dir                    string // NDJSON files, when set
	addr, tpTopic, cvTopic string // Kafka, when addr is set
	idTopic                string // identity events, when the traffic has some
	partitions             int
	create, convFirst      bool
	rate                   float64 // > 0: live, at this many events/s (Kafka only)
}

func generateTraffic(ctx context.Context, cfg generate.Config, o genOutput, stderr io.Writer) error {
	outDir, addr, tpTopic, cvTopic, convFirst := o.dir, o.addr, o.tpTopic, o.cvTopic, o.convFirst
	began := time.Now()
	traffic, err := generate.New(cfg)
	if err != nil {
		return err
	}
	identities := traffic.Count(generate.Identity) > 0
	withIDs := ""
	if identities {
		withIDs = fmt.Sprintf(", %d identity events", traffic.Count(generate.Identity))
	}
	fmt.Fprintf(stderr, "generated %d events (%d touchpoints, %d conversions%s, %d duplicates) for %d users in %s\n",
		traffic.Len(), traffic.Count(generate.Touchpoint), traffic.Count(generate.Conversion), withIDs, traffic.Duplicates(),
		traffic.Users(), time.Since(began).Round(time.Millisecond))

	var sinks []generate.Sink
	var finish []func() error
	if outDir != "" {
		files, err := newGenFileSink(outDir, identities)
		if err != nil {
			return err
		}
		defer files.close()
		sinks = append(sinks, files.write)
		finish = append(finish, files.finish)
	}
	if addr != "" {
		if o.create {
			topics := []string{tpTopic, cvTopic}
			if identities {
				topics = append(topics, o.idTopic)
			}
			if err := generate.EnsureTopics(ctx, addr, o.partitions, topics...); err != nil {
				return err
			}
		}
		kc := generate.KafkaConfig{Addr: addr, TouchpointsTopic: tpTopic, ConversionsTopic: cvTopic, IdentitiesTopic: o.idTopic}
		if o.rate > 0 {
			// Live: a partial batch must not wait for more.
			kc.BatchTimeout = time.Millisecond
		}
		p, err := generate.NewKafkaProducer(ctx, kc)
		if err != nil {
			return err
		}
		defer p.Close()
		sinks = append(sinks, p.Write)
		finish = append(finish, p.Flush)
	}

	prog := &genProgress{w: stderr, total: traffic.Len(), start: time.Now(), last: time.Now()}
	sink := func(kind generate.Kind, key string, value []byte) error {
		for _, s := range sinks {
			if err := s(kind, key, value); err != nil {
				return err
			}
		}
		prog.tick()
		return nil
	}
	switch {
	case o.rate > 0:
		err = traffic.EmitLive(ctx, o.rate, sink, func() error {
			for _, f := range finish {
				if err := f(); err != nil {
					return err
				}
			}
			return nil
		})
	case convFirst:
		err = traffic.EmitKind(generate.Conversion, sink)
		if err == nil {
			for _, f := range finish {
				if err = f(); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = traffic.EmitKind(generate.Touchpoint, sink)
		}
		if err == nil && identities {
			err = traffic.EmitKind(generate.Identity, sink)
		}
	default:
		err = traffic.Emit(sink)
	}
	if err != nil {
		return err
	}
	for _, f := range finish {
		if err := f(); err != nil {
			return err
		}
	}
	elapsed := time.Since(prog.start)
	var where []string
	if outDir != "" {
		where = append(where, outDir)
	}
	if addr != "" {
		if identities {
			where = append(where, fmt.Sprintf("kafka %s (%s, %s, %s)", addr, tpTopic, cvTopic, o.idTopic))
		} else {
			where = append(where, fmt.Sprintf("kafka %s (%s, %s)", addr, tpTopic, cvTopic))
		}
	}
	fmt.Fprintf(stderr, "wrote %d events to %v in %s (%.0f events/s)\n", prog.n, where, elapsed.Round(time.Millisecond), float64(prog.n)/max(elapsed.Seconds(), 1e-9))
	return nil
}

// genProgress prints the rate about every second.
type genProgress struct {
	w           io.Writer
	total, n    int
	start, last time.Time
}

func (p *genProgress) tick() {
	p.n++
	if p.n%1024 != 0 {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= time.Second {
		rate := float64(p.n) / now.Sub(p.start).Seconds()
		fmt.Fprintf(p.w, "generate: %d/%d events, %.0f events/s\n", p.n, p.total, rate)
		p.last = now
	}
}

// genFileSink writes the NDJSON files: touchpoints, conversions and, when
// the traffic has identity events, identities.
type genFileSink struct {
	files [3]*os.File
	bufs  [3]*bufio.Writer
}

func newGenFileSink(dir string, identities bool) (*genFileSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &genFileSink{}
	for i, name := range [3]string{"touchpoints.ndjson", "conversions.ndjson", "identities.ndjson"} {
		if i == 2 && !identities {
			break
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			s.close()
			return nil, err
		}
		s.files[i], s.bufs[i] = f, bufio.NewWriterSize(f, 1<<20)
	}
	return s, nil
}

func (s *genFileSink) write(kind generate.Kind, _ string, value []byte) error {
	b := s.bufs[0]
	switch kind {
	case generate.Conversion:
		b = s.bufs[1]
	case generate.Identity:
		b = s.bufs[2]
	}
	b.Write(value)
	return b.WriteByte('\n')
}

// finish flushes and syncs both files.
func (s *genFileSink) finish() error {
	for i, b := range s.bufs {
		if b == nil {
			continue
		}
		if err := b.Flush(); err != nil {
			return err
		}
		if err := s.files[i].Sync(); err != nil {
			return err
		}
	}
	return nil
}

func (s *genFileSink) close() {
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
}
