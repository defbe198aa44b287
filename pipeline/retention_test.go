package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// When retention deletes messages the group had not committed, they can
// never be attributed; the run must say so (log and counter), not skip
// them silently.
func TestRetentionGapIsReported(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	libs := filepath.Join(filepath.Dir(file), "..", ".cache", "kafka", "libs")
	if _, err := os.Stat(filepath.Join(libs, "kafka-tools-4.1.1.jar")); err != nil {
		t.Skipf("needs Kafka's DeleteRecordsCommand from the jars scripts/services.sh fetches (%v)", err)
	}
	env := pipelinetest.New(t, pipelinetest.Options{Partitions: 1})
	var msgs []pipelinetest.Msg
	for i := range 10 {
		u := fmt.Sprintf("u%d", i)
		msgs = append(msgs, pipelinetest.Msg{Key: []byte(u), Value: []byte(fmt.Sprintf(
			`{"event_id":"tp-%d","user_id":"%s","timestamp":"2026-11-27T10:%02d:00Z","source":"google","medium":"cpc"}`, i, u, i))})
	}
	env.Produce(env.Touchpoints, msgs)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(env.Kafka), Timeout: 10 * time.Second}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: env.Group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{env.Touchpoints: {{Partition: 0, Offset: 2}}},
	})
	if err != nil {
		t.Fatalf("commit offset 2: %v", err)
	}
	for _, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatalf("commit offset 2: %v", p.Error)
			}
		}
	}
	spec := filepath.Join(t.TempDir(), "delete.json")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(`{"partitions":[{"topic":%q,"partition":0,"offset":6}],"version":1}`, env.Touchpoints)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "java", "-cp", libs+"/*", "org.apache.kafka.tools.DeleteRecordsCommand",
		"--bootstrap-server", env.Kafka, "--offset-json-file", spec).CombinedOutput()
	if err != nil {
		t.Fatalf("delete records below offset 6: %v\n%s", err, out)
	}

	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	if s.Skipped != 4 {
		t.Errorf("skipped offsets = %d, want 4 (offsets 2..5 deleted before they were consumed)", s.Skipped)
	}
	if s.Touchpoints != 4 {
		t.Errorf("touchpoints consumed = %d, want the 4 still in the log", s.Touchpoints)
	}
}
