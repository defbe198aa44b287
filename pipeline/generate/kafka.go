package generate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Defaults of KafkaConfig.
const (
	DefaultTouchpointsTopic = "touchpoints"
	DefaultConversionsTopic = "conversions"
	DefaultIdentitiesTopic  = "identities"
	DefaultBatchSize        = 5000
	DefaultBatchTimeout     = 10 * time.Millisecond
	DefaultQueue            = 20_000
)

// KafkaConfig configures a KafkaProducer. The zero value of a field means its
// default.
type KafkaConfig struct {
	// Addr is a bootstrap broker, "host:port". Required.
	Addr string
	// TouchpointsTopic and ConversionsTopic receive the two kinds of events.
	// Default "touchpoints" and "conversions".
	TouchpointsTopic, ConversionsTopic string
	// IdentitiesTopic receives the identity events (made only with
	// Config.LoggedOutShare > 0). Default "identities".
	IdentitiesTopic string
	// BatchSize is the largest batch of messages sent to one partition.
	// Default 5000.
	BatchSize int
	// BatchTimeout bounds how long a partial partition batch waits. Default 10ms.
	BatchTimeout time.Duration
	// Queue is the number of messages of a topic queued before they are
	// produced, in one synchronous call that waits for the acks. Default
	// 20000: enough to fill a batch of each of 4 partitions.
	Queue int
}

// WithDefaults returns c with every zero field set to its default.
func (c KafkaConfig) WithDefaults() KafkaConfig {
	if c.TouchpointsTopic == "" {
		c.TouchpointsTopic = DefaultTouchpointsTopic
	}
	if c.ConversionsTopic == "" {
		c.ConversionsTopic = DefaultConversionsTopic
	}
	if c.IdentitiesTopic == "" {
		c.IdentitiesTopic = DefaultIdentitiesTopic
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	return c
}

// KafkaProducer writes generated events to Kafka, keyed by attribution key
// and partitioned like the Java client (murmur2), so that a user's
// touchpoints and conversions land in the same partition number of the two
// topics (the events of a user not logged in yet are keyed by the device's
// anonymous_id, as their producer knows no user_id; identity events by
// user_id). Every write is acknowledged by all in-sync replicas.
type KafkaProducer struct {
	ctx     context.Context
	writers [Identity + 1]*kafka.Writer
	batches [Identity + 1][]kafka.Message
	arena   []byte // holds the keys and values of the messages being batched
	queue   int    // messages per topic per produce call
	written int64
}

// NewKafkaProducer returns a producer whose writes are bounded by ctx.
func NewKafkaProducer(ctx context.Context, cfg KafkaConfig) (*KafkaProducer, error) {
	cfg = cfg.WithDefaults()
	if cfg.Addr == "" {
		return nil, errors.New("kafka: addr: required")
	}
	if cfg.BatchSize < 0 {
		return nil, fmt.Errorf("kafka: batch_size: must be > 0, got %d", cfg.BatchSize)
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("kafka: queue: must be > 0, got %d", cfg.Queue)
	}
	p := &KafkaProducer{ctx: ctx, queue: cfg.Queue}
	for k, topic := range map[Kind]string{Touchpoint: cfg.TouchpointsTopic, Conversion: cfg.ConversionsTopic, Identity: cfg.IdentitiesTopic} {
		p.writers[k] = &kafka.Writer{
			Addr:         kafka.TCP(cfg.Addr),
			Topic:        topic,
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			// Ride out a partition leader's election on a cluster (a broker
			// lost: about 10 s in KRaft) instead of failing after kafka-go's
			// default 10 attempts (about 5 s).
			MaxAttempts:     40,
			WriteBackoffMax: time.Second,
			BatchSize:       cfg.BatchSize,
			BatchTimeout:    cfg.BatchTimeout,
			Compression:     0, // none
		}
	}
	return p, nil
}

// Write queues one event, producing its topic's queue when it is full. It
// is a Sink.
func (p *KafkaProducer) Write(kind Kind, key string, value []byte) error {
	if kind != Touchpoint && kind != Conversion && kind != Identity {
		return fmt.Errorf("kafka: unknown kind %v", kind)
	}
	if cap(p.arena)-len(p.arena) < len(key)+len(value) {
		// The old arena stays alive as long as queued messages point into it.
		p.arena = make([]byte, 0, max(4<<20, len(key)+len(value)))
	}
	n := len(p.arena)
	p.arena = append(p.arena, key...)
	p.arena = append(p.arena, value...)
	k, v := p.arena[n:n+len(key):n+len(key)], p.arena[n+len(key):len(p.arena):len(p.arena)]
	p.batches[kind] = append(p.batches[kind], kafka.Message{Key: k, Value: v})
	if len(p.batches[kind]) >= p.queue {
		return p.send(kind)
	}
	return nil
}

func (p *KafkaProducer) send(kind Kind) error {
	b := p.batches[kind]
	if len(b) == 0 {
		return nil
	}
	if err := p.writers[kind].WriteMessages(p.ctx, b...); err != nil {
		return fmt.Errorf("produce %s: %w", p.writers[kind].Topic, err)
	}
	p.written += int64(len(b))
	clear(b)
	p.batches[kind] = b[:0]
	return nil
}

// Flush sends the queued messages and returns when all are acknowledged.
func (p *KafkaProducer) Flush() error {
	if err := p.send(Conversion); err != nil {
		return err
	}
	if err := p.send(Identity); err != nil {
		return err
	}
	return p.send(Touchpoint)
}

// Written returns the number of acknowledged messages.
func (p *KafkaProducer) Written() int64 { return p.written }

// Close closes the writers without flushing: call Flush first.
func (p *KafkaProducer) Close() error {
	return errors.Join(p.writers[Touchpoint].Close(), p.writers[Conversion].Close(), p.writers[Identity].Close())
}

// EnsureTopics makes sure that every topic exists with the given number of
// partitions: it creates the missing ones (replication factor 1, through the
// controller) and fails on an existing topic with another partition count,
// since the pipeline needs both topics partitioned alike.
func EnsureTopics(ctx context.Context, addr string, partitions int, topics ...string) error {
	if partitions < 1 {
		return fmt.Errorf("partitions: must be >= 1, got %d", partitions)
	}
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	counts, err := partitionCounts(ctx, client, topics)
	if err != nil {
		return err
	}
	var missing []kafka.TopicConfig
	for _, t := range topics {
		switch st, ok := counts[t]; {
		case !ok:
			missing = append(missing, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1})
		case st.partitions != partitions:
			return fmt.Errorf("topic %q has %d partitions, want %d", t, st.partitions, partitions)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := createTopics(ctx, addr, missing); err != nil {
		return err
	}
	// Wait until the new partitions have leaders, so that the first
	// produce does not fail.
	deadline := time.Now().Add(30 * time.Second)
	for {
		counts, err := partitionCounts(ctx, client, topics)
		if err != nil {
			return err
		}
		ready := true
		for _, t := range topics {
			st := counts[t]
			if st.partitions != st.led || st.led == 0 {
				ready = false
			} else if st.partitions != partitions {
				return fmt.Errorf("topic %q has %d partitions, want %d", t, st.partitions, partitions)
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create topics: partitions still without a leader after 30s")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topics: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type topicState struct {
	partitions int // partitions of the topic
	led        int // of which have a leader
}

// partitionCounts returns the partitions of each existing topic. It asks without auto-creation (unlike kafka.Conn.ReadPartitions),
// so that a missing topic is not created with the broker's default count.
func partitionCounts(ctx context.Context, client *kafka.Client, topics []string) (map[string]topicState, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", err)
	}
	counts := make(map[string]topicState, len(topics))
	for _, t := range md.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("kafka metadata: topic %q: %w", t.Name, t.Error)
		}
		st := topicState{partitions: len(t.Partitions)}
		for _, p := range t.Partitions {
			if p.Leader.Host != "" {
				st.led++
			}
		}
		counts[t.Name] = st
	}
	return counts, nil
}

func createTopics(ctx context.Context, addr string, topics []kafka.TopicConfig) error {
	// The Client negotiates CreateTopics v5 (Conn.CreateTopics sends v0),
	// which lets ReplicationFactor -1 mean the broker's
	// default.replication.factor: 1 on a single broker, what the operator
	// chose (e.g. 3) on a cluster.
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 30 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for t, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, terr)
		}
	}
	return nil
}
