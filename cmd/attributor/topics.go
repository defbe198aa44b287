package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/attributor/attributor/pipeline"
)

func init() {
	register("topics", "create or check the Kafka topics: topics create|check", runTopics)
}

// topicFlags are the Kafka connection and topic-name flags, spelled and
// bound to the environment as in `attributor run`.
type topicFlags struct {
	brokers, tp, cv, spend, ids, dlq, group *string
	sec                                     func() (pipeline.KafkaSecurity, error)
}

func addTopicFlags(e *envFlags) *topicFlags {
	return &topicFlags{
		brokers: e.String("brokers", "ATTRIBUTOR_BROKERS", pipeline.DefaultBroker, "comma-separated Kafka `brokers`"),
		tp:      e.String("touchpoints-topic", "ATTRIBUTOR_TOUCHPOINTS_TOPIC", pipeline.DefaultTouchpointsTopic, "touchpoints `topic`"),
		cv:      e.String("conversions-topic", "ATTRIBUTOR_CONVERSIONS_TOPIC", pipeline.DefaultConversionsTopic, "conversions `topic`"),
		dlq:     e.String("dlq-topic", "ATTRIBUTOR_DLQ_TOPIC", pipeline.DefaultDLQTopic, "dead-letter `topic`"),
		spend:   e.String("spend-topic", "ATTRIBUTOR_SPEND_TOPIC", pipeline.DefaultSpendTopic, "ad-spend `topic`"),
		ids:     e.String("identities-topic", "ATTRIBUTOR_IDENTITIES_TOPIC", pipeline.DefaultIdentitiesTopic, "identity events `topic` (anonymous_id → user_id links)"),
		group:   e.String("group", "ATTRIBUTOR_GROUP", pipeline.DefaultGroup, "consumer `group` of `attributor run`: its internal topic <group>.repartition is made and checked too"),
		sec:     addKafkaSecurityFlags(e),
	}
}

func runTopics(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: attributor topics create|check [flags]"
	if len(args) == 0 || (args[0] != "create" && args[0] != "check") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "attributor topics: want create or check\n%s\n", usage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("topics "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	tf := addTopicFlags(e.Group("Topics and Kafka"))
	e.Group("Kafka security")
	var partitions, dlqPartitions, repartPartitions, rf *int
	var retention, dlqRetention *time.Duration
	if sub == "create" {
		partitions = e.Int("partitions", "ATTRIBUTOR_TOPIC_PARTITIONS", 4, "partitions of the touchpoints, conversions, spend and identities topics (more partitions let more instances share the work)")
		dlqPartitions = e.Int("dlq-partitions", "ATTRIBUTOR_DLQ_PARTITIONS", 1, "partitions of the dead-letter topic")
		repartPartitions = e.Int("repartition-partitions", "ATTRIBUTOR_REPARTITION_PARTITIONS", 0, "partitions of the internal topic <group>.repartition, the number of homes of the attribution keys (default: --partitions)")
		rf = e.Int("replication-factor", "ATTRIBUTOR_TOPIC_REPLICATION_FACTOR", 0, "replication factor of every topic (default: min(3, number of brokers); with 3 or more, min.insync.replicas is set to 2)")
		retention = e.Duration("retention", "ATTRIBUTOR_TOPIC_RETENTION", 0, "retention.ms of the input topics, e.g. 720h (default: the broker's, 7 days unless changed; keep it above the time a stopped attributor may need to catch up)")
		dlqRetention = e.Duration("dlq-retention", "ATTRIBUTOR_DLQ_RETENTION", 0, "retention.ms of the dead-letter topic (default: the broker's)")
	}
	if sub == "create" {
		fs.Usage = e.help(stdout, "usage: attributor topics create [flags]\n\nCreates the topics that do not exist yet: touchpoints, conversions, ad_spend,\nidentities, the dead-letter topic and the group's internal <group>.repartition, with cleanup.policy=delete. Existing topics are left as\nthey are: 'attributor topics check' says what is wrong with them.")
	} else {
		fs.Usage = e.help(stdout, "usage: attributor topics check [flags]\n\nReports missing or misconfigured topics in plain words and exits 1 if any;\nexit 0 means `attributor run` will find its topics as it needs them.")
	}
	if code, ok := parseFlags(fs, e, args[1:], stderr, "topics "+sub); !ok {
		return code
	}
	sec, err := tf.sec()
	if err != nil {
		fmt.Fprintf(stderr, "attributor topics %s: %v\n", sub, err)
		return 2
	}
	cfg := pipeline.TopicsConfig{Brokers: splitList(*tf.brokers), Kafka: sec,
		TouchpointsTopic: *tf.tp, ConversionsTopic: *tf.cv, SpendTopic: *tf.spend, IdentitiesTopic: *tf.ids, DLQTopic: *tf.dlq, Group: *tf.group}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if sub == "create" {
		cfg.Partitions, cfg.DLQPartitions, cfg.ReplicationFactor, cfg.RepartitionPartitions = *partitions, *dlqPartitions, *rf, *repartPartitions
		cfg.Retention, cfg.DLQRetention = *retention, *dlqRetention
		if cfg.Partitions < 1 || cfg.DLQPartitions < 1 || cfg.RepartitionPartitions < 0 || cfg.ReplicationFactor < 0 || cfg.Retention < 0 || cfg.DLQRetention < 0 {
			fmt.Fprintf(stderr, "attributor topics create: --partitions and --dlq-partitions must be >= 1, --repartition-partitions, --replication-factor and the retentions >= 0\n")
			return 2
		}
		created, err := pipeline.CreateTopics(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "attributor topics create: %v\n", err)
			return 1
		}
		for _, t := range created {
			fmt.Fprintf(stdout, "created topic %s\n", t)
		}
		if len(created) == 0 {
			fmt.Fprintln(stdout, "every topic exists already; nothing created")
		}
	}
	rep, err := pipeline.CheckTopics(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "attributor topics %s: %v\n", sub, err)
		return 1
	}
	printTopicsReport(stdout, rep)
	if len(rep.Problems) > 0 {
		return 1
	}
	return 0
}

func printTopicsReport(w io.Writer, rep pipeline.TopicsReport) {
	fmt.Fprintf(w, "cluster: %d broker(s)\n", rep.Brokers)
	for _, t := range rep.Topics {
		if !t.Exists {
			fmt.Fprintf(w, "  %-12s %s: missing\n", t.Role, t.Name)
			continue
		}
		retention := "unlimited"
		if t.RetentionMs >= 0 {
			retention = (time.Duration(t.RetentionMs) * time.Millisecond).String()
		}
		fmt.Fprintf(w, "  %-12s %s: %d partitions, replication factor %d, min.insync.replicas %d, cleanup.policy %s, retention %s\n",
			t.Role, t.Name, t.Partitions, t.ReplicationFactor, t.MinInSyncReplicas, t.CleanupPolicy, retention)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "ok: the topics are as `attributor run` needs them")
	}
}
