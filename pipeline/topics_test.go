package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

func topicsConfig(env *pipelinetest.Env) pipeline.TopicsConfig {
	return pipeline.TopicsConfig{Brokers: []string{env.Kafka}, TouchpointsTopic: env.Touchpoints, ConversionsTopic: env.Conversions, SpendTopic: env.Spend, IdentitiesTopic: env.Identities, DLQTopic: env.DLQ, Group: env.Group}
}

// On a cluster without the topics, check names each missing one (the
// spend topic as optional), run's error names the command that creates
// them, create makes them as asked, and check then finds nothing wrong.
func TestTopicsCreateAndCheck(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := topicsConfig(env)

	rep, err := pipeline.CheckTopics(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 3 || len(rep.Notes) != 3 || !strings.Contains(rep.Notes[0], "optional") ||
		!strings.Contains(rep.Notes[1], "identities topic") || !strings.Contains(rep.Notes[1], "nothing is stitched") || !strings.Contains(rep.Notes[2], "`attributor run` creates it") {
		t.Errorf("check of missing topics: problems %q, notes %q; want 3 problems (touchpoints, conversions, dead-letter), a note on spend, one on identities and one on the repartition topic", rep.Problems, rep.Notes)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p, "does not exist") || !strings.Contains(p, "attributor topics create") {
			t.Errorf("problem %q: want it to say the topic does not exist and how to create it", p)
		}
	}
	if _, err := pipeline.NewRunner(ctx, env.Config()); err == nil || !strings.Contains(err.Error(), "attributor topics create") {
		t.Errorf("NewRunner without topics: %v; want an error naming `attributor topics create`", err)
	}

	cfg.Partitions, cfg.Retention, cfg.DLQRetention = 3, 48*time.Hour, 30*24*time.Hour
	created, err := pipeline.CreateTopics(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 6 || !slices.Contains(created, env.Identities) || created[5] != pipeline.RepartitionTopic(env.Group) {
		t.Errorf("created %v, want the five topics (identities too) and the group's repartition topic", created)
	}
	rep, err = pipeline.CheckTopics(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || len(rep.Notes) != 0 {
		t.Errorf("check after create: problems %q, notes %q", rep.Problems, rep.Notes)
	}
	for _, s := range rep.Topics {
		wantParts, wantRet := 3, (48 * time.Hour).Milliseconds()
		if s.Role == "dead-letter" {
			wantParts, wantRet = 1, (30 * 24 * time.Hour).Milliseconds()
		}
		if !s.Exists || s.Partitions != wantParts || s.ReplicationFactor != min(3, rep.Brokers) || s.CleanupPolicy != "delete" || s.RetentionMs != wantRet {
			t.Errorf("%s after create: %+v; want %d partitions, replication factor min(3, %d brokers), cleanup.policy delete, retention.ms %d", s.Role, s, wantParts, rep.Brokers, wantRet)
		}
	}
	// Creating again changes nothing.
	if again, err := pipeline.CreateTopics(ctx, cfg); err != nil || len(again) != 0 {
		t.Errorf("second create: created %v, err %v; want nothing", again, err)
	}
	// And run starts on what create made.
	r, err := pipeline.NewRunner(ctx, env.Config())
	if err != nil {
		t.Fatalf("NewRunner on created topics: %v", err)
	}
	r.Close()
}

// check reports, in words, each way a topic can be misconfigured.
func TestTopicsCheckFindsMisconfiguration(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env.CreateTopic(env.Touchpoints, 4)
	createTopicWithConfig(t, env, env.Conversions, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "2"}) // 1 partition, replication factor 1
	createTopicWithConfig(t, env, env.DLQ, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})

	rep, err := pipeline.CheckTopics(ctx, topicsConfig(env))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Problems, "\n")
	for _, want := range []string{
		fmt.Sprintf("topic %q has min.insync.replicas 2 above its replication factor 1: every acknowledged write (acks=all) to it fails", env.Conversions),
		fmt.Sprintf("topic %q has cleanup.policy=compact: compaction keeps only the latest event per key", env.DLQ),
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	if len(rep.Problems) != 2 {
		t.Errorf("%d problems, want 2 (different partition counts are fine):\n%s", len(rep.Problems), all)
	}
	if rep.Brokers == 1 {
		// On one broker, replication factor 1 is min(3, 1): no problem.
		for _, p := range rep.Problems {
			if strings.Contains(p, "replication factor "+strconv.Itoa(1)+" on a cluster") {
				t.Errorf("replication factor 1 on one broker reported: %s", p)
			}
		}
	}
}
