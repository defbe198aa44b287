package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicsConfig says which topics the attributor uses and how `attributor
// topics create` makes them. Zero fields take the defaults noted.
type TopicsConfig struct {
	Brokers          []string // Default 127.0.0.1:9092.
	Kafka            KafkaSecurity
	TouchpointsTopic string // Default "touchpoints".
	ConversionsTopic string // Default "conversions".
	SpendTopic       string // Default "ad_spend"; optional for run.
	IdentitiesTopic  string // Default "identities"; optional for run (absent: no identity stitching).
	DLQTopic         string // Default "attributor.dlq".
	// Group is the consumer group of `attributor run`, whose repartition
	// topic (RepartitionTopic(Group)) is made and checked too. Default
	// "attributor".
	Group string
	// RepartitionPartitions of the repartition topic. Default Partitions.
	RepartitionPartitions int

	// Partitions of the touchpoints, conversions, spend and identities
	// topics. Default 4.
	Partitions int
	// DLQPartitions of the dead-letter topic. Default 1.
	DLQPartitions int
	// ReplicationFactor of every topic. Default min(3, brokers in the cluster).
	ReplicationFactor int
	// Retention of the input topics and of the dead-letter topic
	// (retention.ms). Zero: the broker's default (Kafka's own is 7 days).
	Retention, DLQRetention time.Duration
}

func (c TopicsConfig) withDefaults() TopicsConfig {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBroker}
	}
	def(&c.TouchpointsTopic, DefaultTouchpointsTopic)
	def(&c.ConversionsTopic, DefaultConversionsTopic)
	def(&c.SpendTopic, DefaultSpendTopic)
	def(&c.IdentitiesTopic, DefaultIdentitiesTopic)
	def(&c.DLQTopic, DefaultDLQTopic)
	def(&c.Group, DefaultGroup)
	if c.Partitions == 0 {
		c.Partitions = 4
	}
	if c.RepartitionPartitions == 0 {
		c.RepartitionPartitions = c.Partitions
	}
	if c.DLQPartitions == 0 {
		c.DLQPartitions = 1
	}
	return c
}

func (c TopicsConfig) validate() error {
	var errs []error
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions: must be >= 1, got %d", c.Partitions))
	}
	if c.RepartitionPartitions < 1 {
		errs = append(errs, fmt.Errorf("repartition-partitions: must be >= 1, got %d", c.RepartitionPartitions))
	}
	if c.DLQPartitions < 1 {
		errs = append(errs, fmt.Errorf("dlq-partitions: must be >= 1, got %d", c.DLQPartitions))
	}
	if c.ReplicationFactor < 0 {
		errs = append(errs, fmt.Errorf("replication-factor: must be >= 1, got %d", c.ReplicationFactor))
	}
	if c.Retention < 0 || c.DLQRetention < 0 {
		errs = append(errs, fmt.Errorf("retention: must be >= 0"))
	}
	return errors.Join(errs...)
}

// TopicState is one topic as the cluster holds it.
type TopicState struct {
	Name              string
	Role              string // touchpoints, conversions, spend, identities, dead-letter or repartition
	Exists            bool
	Partitions        int
	ReplicationFactor int
	MinInSyncReplicas int    // min.insync.replicas
	CleanupPolicy     string // cleanup.policy
	RetentionMs       int64  // retention.ms; -1: unlimited
}

// TopicsReport is what `attributor topics check` found: every topic, and
// the problems in plain words (none: all is well).
type TopicsReport struct {
	Brokers  int // brokers in the cluster
	Topics   []TopicState
	Problems []string
	Notes    []string // facts that need no action
}

type topicAdmin struct {
	cfg    TopicsConfig
	client *kafka.Client
	close  func()
}

func newTopicAdmin(cfg TopicsConfig) (*topicAdmin, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kc, err := NewConn(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	tr := kc.Transport()
	return &topicAdmin{cfg: cfg, client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: tr}, close: tr.CloseIdleConnections}, nil
}

func (a *topicAdmin) roles() []TopicState {
	return []TopicState{
		{Name: a.cfg.TouchpointsTopic, Role: "touchpoints"},
		{Name: a.cfg.ConversionsTopic, Role: "conversions"},
		{Name: a.cfg.SpendTopic, Role: "spend"},
		{Name: a.cfg.IdentitiesTopic, Role: "identities"},
		{Name: a.cfg.DLQTopic, Role: "dead-letter"},
		{Name: RepartitionTopic(a.cfg.Group), Role: "repartition"},
	}
}

// describe reads the topics' partitions, replicas and configs.
func (a *topicAdmin) describe(ctx context.Context) (int, []TopicState, error) {
	states := a.roles()
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = s.Name
	}
	meta, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return 0, nil, fmt.Errorf("kafka %v: unreachable: %w", a.cfg.Brokers, err)
	}
	byName := map[string]kafka.Topic{}
	for _, t := range meta.Topics {
		if t.Error != nil && !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return 0, nil, fmt.Errorf("kafka topic %q: %w", t.Name, t.Error)
		}
		if t.Error == nil {
			byName[t.Name] = t
		}
	}
	var res []kafka.DescribeConfigRequestResource
	for i := range states {
		t, ok := byName[states[i].Name]
		if !ok {
			continue
		}
		states[i].Exists = true
		states[i].Partitions = len(t.Partitions)
		for _, p := range t.Partitions {
			states[i].ReplicationFactor = max(states[i].ReplicationFactor, len(p.Replicas))
		}
		res = append(res, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: t.Name,
			ConfigNames: []string{"min.insync.replicas", "cleanup.policy", "retention.ms"}})
	}
	if len(res) > 0 {
		resp, err := a.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: res})
		if err != nil {
			return 0, nil, fmt.Errorf("describe topic configs: %w", err)
		}
		for _, r := range resp.Resources {
			if r.Error != nil {
				return 0, nil, fmt.Errorf("describe topic %q: %w", r.ResourceName, r.Error)
			}
			for i := range states {
				if states[i].Name != r.ResourceName {
					continue
				}
				for _, e := range r.ConfigEntries {
					switch e.ConfigName {
					case "min.insync.replicas":
						states[i].MinInSyncReplicas, _ = strconv.Atoi(e.ConfigValue)
					case "cleanup.policy":
						states[i].CleanupPolicy = e.ConfigValue
					case "retention.ms":
						states[i].RetentionMs, _ = strconv.ParseInt(e.ConfigValue, 10, 64)
					}
				}
			}
		}
	}
	return len(meta.Brokers), states, nil
}

// CheckTopics reports what is missing or misconfigured in the topics of
// cfg: a missing topic, touchpoints and conversions with different
// partition counts, a replication factor below min(3, brokers), a
// min.insync.replicas that blocks or weakens acknowledged writes, and a
// compacted topic (compaction keeps one event per key; the attributor
// needs every event).
func CheckTopics(ctx context.Context, cfg TopicsConfig) (TopicsReport, error) {
	a, err := newTopicAdmin(cfg)
	if err != nil {
		return TopicsReport{}, err
	}
	defer a.close()
	brokers, states, err := a.describe(ctx)
	if err != nil {
		return TopicsReport{}, err
	}
	rep := TopicsReport{Brokers: brokers, Topics: states}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	want := min(3, brokers)
	for _, s := range states {
		if !s.Exists {
			switch s.Role {
			case "spend":
				rep.Notes = append(rep.Notes, fmt.Sprintf("spend topic %q does not exist: it is optional (spend then comes from touchpoint costs and `attributor spend import`)", s.Name))
			case "identities":
				rep.Notes = append(rep.Notes, fmt.Sprintf("identities topic %q does not exist: it is optional, but without it nothing is stitched (each event is attributed under its user_id, else its anonymous_id); create it with `attributor topics create`", s.Name))
			case "repartition":
				rep.Notes = append(rep.Notes, fmt.Sprintf("repartition topic %q of group %q does not exist: `attributor run` creates it (with as many partitions as the touchpoints topic unless --repartition-partitions says otherwise)", s.Name, a.cfg.Group))
			case "dead-letter":
				problem("dead-letter topic %q does not exist: `attributor run` would create it with 1 partition and the broker's default replication factor and min.insync.replicas; create it with `attributor topics create`", s.Name)
			default:
				problem("%s topic %q does not exist: create it with `attributor topics create`", s.Role, s.Name)
			}
			continue
		}
		if s.ReplicationFactor < want {
			problem("topic %q has replication factor %d on a cluster of %d brokers: losing one broker can lose its events; recreate it with replication factor %d", s.Name, s.ReplicationFactor, brokers, want)
		}
		switch {
		case s.MinInSyncReplicas > s.ReplicationFactor:
			problem("topic %q has min.insync.replicas %d above its replication factor %d: every acknowledged write (acks=all) to it fails", s.Name, s.MinInSyncReplicas, s.ReplicationFactor)
		case s.ReplicationFactor >= 3 && s.MinInSyncReplicas < 2:
			problem("topic %q has min.insync.replicas %d with replication factor %d: a write acknowledged by one broker is lost if that broker fails; set min.insync.replicas=2", s.Name, s.MinInSyncReplicas, s.ReplicationFactor)
		}
		if strings.Contains(s.CleanupPolicy, "compact") {
			problem("topic %q has cleanup.policy=%s: compaction keeps only the latest event per key, and the attributor needs every event; use cleanup.policy=delete", s.Name, s.CleanupPolicy)
		}
	}
	if tp, cv := states[0], states[1]; tp.Exists && cv.Exists && tp.Partitions != cv.Partitions {
		rep.Notes = append(rep.Notes, fmt.Sprintf("topics %q (%d partitions) and %q (%d partitions) have different partition counts: fine, events consumed away from their home go through the repartition topic (the direct path needs equal counts and murmur2 keys)", tp.Name, tp.Partitions, cv.Name, cv.Partitions))
	}
	return rep, nil
}

// CreateTopics creates the topics of cfg that do not exist (touchpoints,
// conversions, spend, identities, dead-letter and the group's repartition
// topic) and waits until their partitions have
// leaders. It leaves existing topics as they are: CheckTopics says what is
// wrong with them. It returns the topics it created.
func CreateTopics(ctx context.Context, cfg TopicsConfig) ([]string, error) {
	a, err := newTopicAdmin(cfg)
	if err != nil {
		return nil, err
	}
	defer a.close()
	brokers, states, err := a.describe(ctx)
	if err != nil {
		return nil, err
	}
	rf := a.cfg.ReplicationFactor
	if rf == 0 {
		rf = min(3, brokers)
	}
	if rf > brokers {
		return nil, fmt.Errorf("replication-factor: %d is more than the %d brokers of the cluster", rf, brokers)
	}
	var create []kafka.TopicConfig
	var created []string
	for _, s := range states {
		if s.Exists {
			continue
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: a.cfg.Partitions, ReplicationFactor: rf, ConfigEntries: topicConfig(rf)}
		retention := a.cfg.Retention
		switch s.Role {
		case "dead-letter":
			tc.NumPartitions, retention = a.cfg.DLQPartitions, a.cfg.DLQRetention
		case "repartition": // retained as the input: a stopped group resumes within it
			tc.NumPartitions = a.cfg.RepartitionPartitions
		}
		if retention > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(retention.Milliseconds(), 10)})
		}
		create = append(create, tc)
		created = append(created, s.Name)
	}
	if len(create) == 0 {
		return nil, nil
	}
	resp, err := a.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	for _, t := range created {
		if err := resp.Errors[t]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return nil, fmt.Errorf("create topic %q: %w", t, err)
		}
	}
	kc, _ := NewConn(a.cfg.Kafka) // checked in newTopicAdmin
	if err := waitLeaders(ctx, kc, a.client.Addr, created); err != nil {
		return created, fmt.Errorf("created %v, but their partitions have no leader yet: %w", created, err)
	}
	return created, nil
}

// waitLeaders waits until every partition of topics has a leader, so that
// the first produce does not fail. A transport caches metadata for
// seconds: each poll asks through a fresh one.
func waitLeaders(ctx context.Context, kc Conn, addr net.Addr, topics []string) error {
	for {
		tr := kc.Transport()
		poll := &kafka.Client{Addr: addr, Timeout: 10 * time.Second, Transport: tr}
		meta, err := poll.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		tr.CloseIdleConnections()
		if err == nil {
			ready := len(meta.Topics) == len(topics)
			for _, t := range meta.Topics {
				if t.Error != nil || len(t.Partitions) == 0 {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.Error != nil || p.Leader.Host == "" {
						ready = false
					}
				}
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
