package main

import (
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
)

// The run's summary says why events were rejected, per reason.
func TestSummaryCountsRejectionsPerReason(t *testing.T) {
	var b strings.Builder
	printSummary(&b, pipeline.Snapshot{Elapsed: time.Second, Touchpoints: 10, Invalid: 6, TooLate: 1, DeadLetters: 7,
		Rejected: []pipeline.ReasonCount{{Reason: "invalid json", Count: 4}, {Reason: "invalid timestamp", Count: 2}, {Reason: "too_late", Count: 1}}})
	want := "attributor: rejected (dead-lettered) by reason: 4 invalid json, 2 invalid timestamp, 1 too_late\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("summary:\n%s\nwant it to end with\n%s", b.String(), want)
	}
	b.Reset()
	printSummary(&b, pipeline.Snapshot{Elapsed: time.Second, Touchpoints: 10})
	if strings.Contains(b.String(), "rejected") {
		t.Errorf("summary of a run without rejections: %s", b.String())
	}
}

// Rows ClickHouse refused are named in the summary, only when there are some.
func TestSummaryNamesRefusedRows(t *testing.T) {
	var b strings.Builder
	printSummary(&b, pipeline.Snapshot{Elapsed: time.Second, Conversions: 3, Refused: 6, DeadLetters: 1})
	if !strings.Contains(b.String(), "ClickHouse refused 6 rows for their values: dead-lettered with reason refused") {
		t.Errorf("summary:\n%s", b.String())
	}
	b.Reset()
	printSummary(&b, pipeline.Snapshot{Elapsed: time.Second, Conversions: 3})
	if strings.Contains(b.String(), "refused") {
		t.Errorf("summary of a run without refusals: %s", b.String())
	}
}

// While writes fail, the progress line says so (its counts stand still:
// they count only what ClickHouse acknowledged).
func TestProgressLineSaysWritesAreFailing(t *testing.T) {
	var b strings.Builder
	p := progressPrinter(&b)
	p(pipeline.Snapshot{Elapsed: 5 * time.Second, Attributed: 1, CreditedRows: 6, WritesFailingFor: 12 * time.Second})
	p(pipeline.Snapshot{Elapsed: 10 * time.Second, Attributed: 3, CreditedRows: 18})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "credited 1 conversions, 6 rows") || !strings.Contains(lines[0], "WRITES FAILING for 12s (retrying") {
		t.Errorf("progress during an outage:\n%s", b.String())
	}
	if strings.Contains(lines[1], "FAILING") {
		t.Errorf("progress after it: %s", lines[1])
	}
}

// The run summary says how many events were dead-lettered as future, and
// how many were forwarded to their home partition, with the producer
// setting that gives the direct path; a clean run has no warning.
func TestSummaryReportsFutureAndForwarded(t *testing.T) {
	var b strings.Builder
	printSummary(&b, pipeline.Snapshot{Touchpoints: 10, Future: 2, ForwardedTouchpoints: 3, ForwardedConversions: 1})
	out := b.String()
	for _, w := range []string{"2 future", "forwarded 4 events to their home partition through the repartition topic (3 touchpoints, 1 conversions)", "-X partitioner=murmur2_random"} {
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

// With stitching, the summary counts the identity events, the links by
// origin, conflicts, moves and the re-attributions links caused; without
// it, it says nothing about stitching.
func TestSummaryReportsStitching(t *testing.T) {
	var b strings.Builder
	printSummary(&b, pipeline.Snapshot{Touchpoints: 10, Identities: 4, LinksIdentity: 3, LinksEvent: 2, LinkConflicts: 1, LinksTooLate: 1, Moves: 4, Reattributed: 5, ReattributedLink: 2, ForwardedLinks: 6})
	out := b.String()
	for _, w := range []string{"4 identities", "stitching: 4 identity events; 5 links decided a device's user (3 from identity events, 2 from events carrying both ids), 1 conflicts", "1 identity events too late; 4 devices moved to their user, 2 conversions re-attributed by links", "forwarded 6 identity events and links"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
	b.Reset()
	printSummary(&b, pipeline.Snapshot{Touchpoints: 10})
	if strings.Contains(b.String(), "stitching") {
		t.Errorf("a run without stitching reports it:\n%s", b.String())
	}
}
