package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// README.md's "Bring your own events", followed command for command by
// scripts/byo-events.sh against the real services, ends in the view
// crediting the hand-written events as the README says.
func TestBringYourOwnEventsScript(t *testing.T) {
	for _, tool := range []string{"kcat", "clickhouse-client", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: not installed (apt-get install kcat clickhouse-client): %v", tool, err)
		}
	}
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", "byo-events.sh"))
	cmd.Env = append(os.Environ(),
		"ATTRIBUTOR_BROKERS="+env.Kafka, "ATTRIBUTOR_CLICKHOUSE="+env.ClickHouse, "ATTRIBUTOR_DATABASE="+env.Database,
		"ATTRIBUTOR_TOUCHPOINTS_TOPIC="+env.Touchpoints, "ATTRIBUTOR_CONVERSIONS_TOPIC="+env.Conversions,
		"ATTRIBUTOR_DLQ_TOPIC="+env.DLQ, "ATTRIBUTOR_SPEND_TOPIC="+env.Spend, "ATTRIBUTOR_IDENTITIES_TOPIC="+env.Identities, "ATTRIBUTOR_GROUP="+env.Group)
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/byo-events.sh:\n%s", out)
	if err != nil {
		t.Fatalf("scripts/byo-events.sh: %v", err)
	}
	// The README's table, by hand: u1 clicked paid_search then email and
	// bought for 100; u2 saw paid_social only and bought for 50.
	for _, row := range [][]string{
		{"first_click", "paid_search", "1", "100"},
		{"first_click", "paid_social", "1", "50"},
		{"last_click", "email", "1", "100"},
		{"last_click", "paid_social", "1", "50"},
		{"linear", "email", "0.5", "50"},
		{"linear", "paid_search", "0.5", "50"},
		{"linear", "paid_social", "1", "50"},
	} {
		if line := strings.Join(row, "\t"); !strings.Contains(string(out), "\n"+line+"\n") {
			t.Errorf("the query's output lacks the row %q", line)
		}
	}
	if !strings.Contains(string(out), "same partition for every user") || !strings.Contains(string(out), "ok: the topics are as `attributor run` needs them") {
		t.Error("the partition or topic check did not pass")
	}
}

// What the README says of kcat's default partitioner: the same keys land in
// other partitions than with murmur2 (the Java client's, and
// -X partitioner=murmur2_random).
func TestKcatDefaultPartitionerDiffersFromMurmur2(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 4})
	var keys strings.Builder
	for i := range 20 {
		fmt.Fprintf(&keys, "u%d\t{}\n", i)
	}
	produce := func(topic string, extra ...string) map[string]string {
		args := append([]string{"-P", "-b", env.Kafka, "-t", topic, "-K", "\t"}, extra...)
		p := exec.Command("kcat", args...)
		p.Stdin = strings.NewReader(keys.String())
		if out, err := p.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		out, err := exec.Command("kcat", "-C", "-b", env.Kafka, "-t", topic, "-e", "-q", "-f", "%k %p\n").Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		parts := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if k, p, ok := strings.Cut(l, " "); ok {
				parts[k] = p
			}
		}
		return parts
	}
	def := produce(env.Touchpoints)
	murmur := produce(env.Conversions, "-X", "partitioner=murmur2_random")
	differ := 0
	for k, p := range def {
		if murmur[k] != p {
			differ++
		}
	}
	if len(def) != 20 || len(murmur) != 20 || differ == 0 {
		t.Errorf("%d of %d keys in another partition with kcat's default partitioner than with murmur2_random (%d read back); want some", differ, len(def), len(murmur))
	}
	t.Logf("%d of 20 keys land in another partition", differ)
}
