package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// The coordinator's normal transitions (not available on a group's first
// start, a rebalance under way) are logged once each at info, not as a
// warning at every retry; other errors stay warnings.
func TestGroupRetriesLogCoordinatorWaitOnceAtInfo(t *testing.T) {
	var out bytes.Buffer
	g := groupRetries{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})), group: "g"}
	for range 3 {
		g.report(fmt.Errorf("join: %w", kafka.GroupCoordinatorNotAvailable))
		g.report(kafka.RebalanceInProgress)
	}
	g.report(kafka.TopicAuthorizationFailed)
	log := out.String()
	if n := strings.Count(log, "level=INFO"); n != 2 {
		t.Errorf("%d info lines, want 2 (one per kind):\n%s", n, log)
	}
	if n := strings.Count(log, "level=WARN"); n != 1 || !strings.Contains(log, "Topic Authorization Failed") {
		t.Errorf("%d warnings, want 1, for the authorization error:\n%s", n, log)
	}
	if !strings.Contains(log, "Group Coordinator Not Available") {
		t.Errorf("the coordinator error is not named:\n%s", log)
	}
}
