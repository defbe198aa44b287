package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// Config is what the source needs of the runner's configuration, defaulted
// and validated there.
type Config struct {
	Brokers          []string
	TouchpointsTopic string
	ConversionsTopic string
	SpendTopic       string
	IdentitiesTopic  string // optional: absent, nothing is stitched
	DLQTopic         string
	// RepartitionTopic is the internal topic events are forwarded through
	// to their home (RepartitionTopic(group)).
	RepartitionTopic string
	// RepartitionPartitions is its partition count R, the number of homes;
	// 0: the existing topic's count, else the touchpoints topic's. It can
	// never change under a group: an existing topic of another count is
	// an error at start.
	RepartitionPartitions int
	// MaxMessageBytes: larger messages (key + value + headers) are
	// dead-lettered.
	MaxMessageBytes int
	// MaxFutureSkew: events further than this after their message entered
	// the log are dead-lettered (see futureRef).
	MaxFutureSkew time.Duration
	Logger        *slog.Logger
}

// Source is the Kafka side of one runner: its connection settings, the
// topics found at start, and what every fetcher shares.
type Source struct {
	Cfg    Config
	Conn   Conn
	Client *kafka.Client
	Dec    *schemas.Decoder
	Stats  *flow.Stats

	// Found by CheckRunTopics.
	Parts  map[string]int // partitions of every subscribed topic
	Topics []string       // subscribed: touchpoints, conversions, the repartition topic and, when they exist, spend and identities
	Homes  int            // partitions of the repartition topic
	// Stitching is on when the identities topic exists: its events are
	// consumed and routed to their anonymous_id's home, and every
	// touchpoint or conversion carrying both ids sends its link there too.
	// The shards stitch only then.
	Stitching bool

	misLogged atomic.Int64 // mis-partitioned messages logged this run
}

// New builds the source's Kafka client; CheckRunTopics then reads the
// topics.
func New(cfg Config, sec KafkaSecurity, dec *schemas.Decoder, st *flow.Stats) (*Source, error) {
	kc, err := NewConn(sec)
	if err != nil {
		return nil, err
	}
	return &Source{Cfg: cfg, Conn: kc, Dec: dec, Stats: st,
		Client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: kc.Transport()}}, nil
}

// Close releases the client's idle connections.
func (s *Source) Close() {
	if t, ok := s.Client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// CheckRunTopics checks the topics a run reads: touchpoints and conversions
// must exist (with any partition counts); spend and identities are
// subscribed when they exist (identities: stitching on, see Stitching);
// the dead-letter and repartition topics are created when missing.
// An existing repartition topic whose partition count differs from
// RepartitionPartitions is an error: every key would change home.
func (s *Source) CheckRunTopics(ctx context.Context) error {
	cfg := &s.Cfg
	topics := []string{cfg.TouchpointsTopic, cfg.ConversionsTopic, cfg.DLQTopic, cfg.SpendTopic, cfg.RepartitionTopic}
	if cfg.IdentitiesTopic != "" {
		topics = append(topics, cfg.IdentitiesTopic)
	}
	meta, err := s.Client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka %v: unreachable: %w", cfg.Brokers, err)
	}
	counts := map[string]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return fmt.Errorf("kafka topic %q: %w", t.Name, t.Error)
		}
		counts[t.Name] = len(t.Partitions)
	}
	for _, t := range topics[:2] {
		if counts[t] == 0 {
			return fmt.Errorf("kafka topic %q: does not exist; create the topics with `attributor topics create` (same --brokers and --*-topic flags as run)", t)
		}
	}
	homes := counts[cfg.RepartitionTopic]
	switch want := cfg.RepartitionPartitions; {
	case homes == 0:
		if want == 0 {
			want = counts[cfg.TouchpointsTopic]
		}
		if err := s.createRepartition(ctx, want, len(meta.Brokers)); err != nil {
			return fmt.Errorf("kafka repartition topic %q: %w", cfg.RepartitionTopic, err)
		}
		cfg.Logger.Info("created the repartition topic", "topic", cfg.RepartitionTopic, "partitions", want)
		homes = want
	case want != 0 && want != homes:
		return fmt.Errorf("kafka repartition topic %q has %d partitions but --repartition-partitions is %d: its partition count is the number of homes of the group's keys, and changing it would move every key away from its state; run with --repartition-partitions %d (or no flag), or use a new --group (a new group starts its own repartition topic and reads the input topics from their start)",
			cfg.RepartitionTopic, homes, want, homes)
	}
	s.Homes = homes
	s.Parts = map[string]int{cfg.TouchpointsTopic: counts[cfg.TouchpointsTopic], cfg.ConversionsTopic: counts[cfg.ConversionsTopic], cfg.RepartitionTopic: homes}
	s.Topics = []string{cfg.TouchpointsTopic, cfg.ConversionsTopic, cfg.RepartitionTopic}
	if n := counts[cfg.SpendTopic]; n > 0 {
		s.Topics = append(s.Topics, cfg.SpendTopic)
		s.Parts[cfg.SpendTopic] = n
	} else {
		cfg.Logger.Info("no spend topic: spend comes from touchpoint costs and imports", "topic", cfg.SpendTopic)
	}
	s.Stitching = false
	if n := counts[cfg.IdentitiesTopic]; cfg.IdentitiesTopic != "" && n > 0 {
		s.Topics = append(s.Topics, cfg.IdentitiesTopic)
		s.Parts[cfg.IdentitiesTopic] = n
		s.Stitching = true
	} else {
		cfg.Logger.Info("no identities topic: no identity stitching (each event is attributed under its user_id, else its anonymous_id); create the topic and restart to stitch", "topic", cfg.IdentitiesTopic)
	}
	if counts[cfg.DLQTopic] == 0 {
		if err := s.createTopic(ctx, kafka.TopicConfig{Topic: cfg.DLQTopic, NumPartitions: 1, ReplicationFactor: -1}); err != nil {
			return fmt.Errorf("kafka dead-letter topic %q: %w", cfg.DLQTopic, err)
		}
		cfg.Logger.Info("created dead-letter topic", "topic", cfg.DLQTopic)
	}
	return nil
}

// Inputs returns the partition count of every input topic whose events
// are routed to their homes (touchpoints, conversions and, when stitching,
// identities): Routing.Inputs, the partitions whose final marks a
// --until-caught-up repartition fetcher waits for.
func (s *Source) Inputs() map[string]int {
	in := map[string]int{s.Cfg.TouchpointsTopic: s.Parts[s.Cfg.TouchpointsTopic], s.Cfg.ConversionsTopic: s.Parts[s.Cfg.ConversionsTopic]}
	if s.Stitching {
		in[s.Cfg.IdentitiesTopic] = s.Parts[s.Cfg.IdentitiesTopic]
	}
	return in
}

// TopicMaxBytes returns the largest record batch topic takes (its
// max.message.bytes, which defaults to the broker's message.max.bytes), or
// an error when the broker does not say (no permission, say).
func (s *Source) TopicMaxBytes(ctx context.Context, topic string) (int, error) {
	resp, err := s.Client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"max.message.bytes"},
	}}})
	if err == nil && len(resp.Resources) == 1 && resp.Resources[0].Error == nil {
		for _, e := range resp.Resources[0].ConfigEntries {
			if n, perr := strconv.Atoi(e.ConfigValue); e.ConfigName == "max.message.bytes" && perr == nil && n > 0 {
				return n, nil
			}
		}
	}
	if err == nil && len(resp.Resources) == 1 {
		err = resp.Resources[0].Error
	}
	return 0, err
}

// createTopic creates the topic tc; one that exists already is no error.
func (s *Source) createTopic(ctx context.Context, tc kafka.TopicConfig) error {
	resp, err := s.Client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return err
	}
	if err := resp.Errors[tc.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return err
	}
	return nil
}

// LogRange is the first offset and the offset after the last message of a
// partition, when a --until-caught-up run starts; it stops at End.
type LogRange struct{ First, End int64 }

// EndOffsets returns the offset range of every subscribed input partition
// (not the repartition topic's: a run consumes it until every input
// partition said it forwarded all it had).
func (s *Source) EndOffsets(ctx context.Context) (map[string]map[int]LogRange, error) {
	parts := map[string][]int{}
	for _, t := range s.Topics {
		if t == s.Cfg.RepartitionTopic {
			continue
		}
		for p := 0; p < s.Parts[t]; p++ {
			parts[t] = append(parts[t], p)
		}
	}
	return s.logRanges(ctx, parts)
}

// logRanges returns the first offset and the end of each of parts'
// partitions, per topic.
func (s *Source) logRanges(ctx context.Context, parts map[string][]int) (map[string]map[int]LogRange, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for t, ps := range parts {
		for _, p := range ps {
			req.Topics[t] = append(req.Topics[t], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
		}
	}
	out := map[string]map[int]LogRange{}
	if len(req.Topics) == 0 {
		return out, nil
	}
	resp, err := s.Client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	for t, ps := range resp.Topics {
		out[t] = map[int]LogRange{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			out[t][p.Partition] = LogRange{First: p.FirstOffset, End: p.LastOffset}
		}
	}
	return out, nil
}

// createRepartition creates the repartition topic with n partitions, the
// replication and configuration of `attributor topics create` (min(3,
// brokers) replicas, topicConfig: the forwards are written with
// acks=all), and waits until its partitions have leaders.
func (s *Source) createRepartition(ctx context.Context, n, brokers int) error {
	rf := min(3, brokers)
	tc := kafka.TopicConfig{Topic: s.Cfg.RepartitionTopic, NumPartitions: n, ReplicationFactor: rf, ConfigEntries: topicConfig(rf)}
	if err := s.createTopic(ctx, tc); err != nil {
		return err
	}
	return waitLeaders(ctx, s.Conn, s.Client.Addr, []string{tc.Topic})
}

// topicConfig is the configuration of the topics the attributor creates
// with rf replicas (the inputs, the dead-letter and repartition topics):
// deleted by the broker's retention, never compacted (a stopped group must
// resume within the retention, of its input as of its repartition topic);
// with 3 replicas, min.insync.replicas 2, for writes with acks=all.
func topicConfig(rf int) []kafka.ConfigEntry {
	c := []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "delete"}}
	if rf >= 3 {
		c = append(c, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "2"})
	}
	return c
}
