package main

import (
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline"
)

// The run summary says how many events were dead-lettered as future, and
// warns, with the producer setting that fixes it, when messages were in a
// partition their key does not hash to; a clean run has no warning.
func TestSummaryReportsFutureAndMisPartitioned(t *testing.T) {
	var b strings.Builder
	printSummary(&b, pipeline.Snapshot{Touchpoints: 10, Future: 2, MispartitionedTouchpoints: 3, MispartitionedConversions: 1})
	out := b.String()
	for _, w := range []string{"2 future", "warning: 4 messages were in a partition their attribution key does not hash to (3 touchpoints, 1 conversions)", "-X partitioner=murmur2_random"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
	b.Reset()
	printSummary(&b, pipeline.Snapshot{Touchpoints: 10})
	if strings.Contains(b.String(), "warning") {
		t.Errorf("a clean run's summary warns:\n%s", b.String())
	}
}
