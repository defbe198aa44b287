package source

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// TestMarksFallOnTheSameTicks: a fetcher's timed mark is due once the wall
// clock enters a new markInterval tick, not markInterval after its own
// last mark, so that the fetchers of a member mark together and kafka-go
// puts their marks to one home into one write batch.
func TestMarksFallOnTheSameTicks(t *testing.T) {
	tick := time.Unix(1_800_000_000, 0) // a multiple of markInterval
	at := func(d time.Duration) time.Time { return tick.Add(d) }
	for _, c := range []struct {
		last, now time.Duration
		due       bool
	}{
		{-time.Millisecond, time.Millisecond, true}, // 2 ms apart, across a tick
		{-48 * time.Millisecond, 0, true},
		{0, markInterval - time.Millisecond, false}, // 49 ms apart, within one tick
		{time.Millisecond, 2 * time.Millisecond, false},
		{time.Millisecond, markInterval + time.Millisecond, true},
		{0, 3 * markInterval, true},
	} {
		if got := markDue(at(c.last), at(c.now)); got != c.due {
			t.Errorf("last mark at tick%+v, now tick%+v: due %v, want %v", c.last, c.now, got, c.due)
		}
	}
	// Two fetchers whose own marks were 30 ms apart are due at the same
	// instant: just after the next tick.
	a, b := at(-40*time.Millisecond), at(-10*time.Millisecond)
	for _, now := range []time.Duration{-time.Millisecond, time.Millisecond} {
		if markDue(a, at(now)) != markDue(b, at(now)) {
			t.Errorf("at tick%+v one fetcher is due and the other not", now)
		}
	}
}

// markOf decodes rec when it is a mark record: its home and content.
func markOf(t *testing.T, rec kafka.Message) (home int, mr markRecord, ok bool) {
	t.Helper()
	if string(header(&rec, HeaderKind)) != kindMark {
		return 0, mr, false
	}
	if err := json.Unmarshal(rec.Value, &mr); err != nil {
		t.Fatalf("mark record %q: %v", rec.Value, err)
	}
	return rec.WriterData.(*fwdData).home, mr, true
}

// Marks wait up to markDelay and go to the Writer together, the newest of
// each input partition per home, after every event forwarded before them
// (and meanwhile): kafka-go then puts the marks to one home into one write
// batch instead of one batch per mark.
func TestMarksWaitAndGoTogether(t *testing.T) {
	r := newStitchRig(t, false)
	fwd := r.rt.Fwd
	ctx := context.Background()
	event := func(off int64) {
		t.Helper()
		if !fwd.Forward(ctx, &flow.Forward{Kind: flow.KindTouchpoint, Key: "u", Value: []byte("{}"), Home: 1, Offset: off}) {
			t.Fatal("forward refused")
		}
	}
	event(1)
	for _, c := range []struct {
		home int
		mr   markRecord
	}{
		{1, markRecord{Topic: rigTP, Partition: 0, Watermark: 10, End: 2}},
		{2, markRecord{Topic: rigTP, Partition: 0, Watermark: 10, End: 2}},
		{1, markRecord{Topic: rigCV, Partition: 3, Watermark: 0, End: 7}},
		{1, markRecord{Topic: rigTP, Partition: 0, Watermark: 20, End: 5}}, // newer: replaces the first
	} {
		if !fwd.mark(ctx, c.home, c.mr) {
			t.Fatal("mark refused")
		}
	}
	event(2)
	r.mu.Lock()
	early := len(r.records)
	r.mu.Unlock()
	if early != 2 {
		t.Fatalf("%d records written at once, want the 2 events only (the marks wait)", early)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.records)
		r.mu.Unlock()
		if n >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(3 * markDelay) // nothing more comes
	r.mu.Lock()
	defer r.mu.Unlock()
	type got struct {
		home int
		mr   markRecord
	}
	var marks []got
	for i, rec := range r.records {
		home, mr, ok := markOf(t, rec)
		if !ok {
			if i > 1 {
				t.Errorf("record %d is an event, after a mark", i)
			}
			continue
		}
		marks = append(marks, got{home, mr})
	}
	want := []got{
		{1, markRecord{Topic: rigTP, Partition: 0, Watermark: 20, End: 5}},
		{2, markRecord{Topic: rigTP, Partition: 0, Watermark: 10, End: 2}},
		{1, markRecord{Topic: rigCV, Partition: 3, Watermark: 0, End: 7}},
	}
	if !slices.Equal(marks, want) {
		t.Errorf("marks written %+v, want %+v", marks, want)
	}
}

// Close writes the marks still waiting before it closes the Writer, and
// refuses marks from then on.
func TestCloseWritesWaitingMarks(t *testing.T) {
	src := &Source{Cfg: Config{Brokers: []string{"broker:9092"}, RepartitionTopic: "test.repartition"}, Stats: &flow.Stats{}}
	f := src.NewForwarder(func(err error) { t.Errorf("forwarder failed: %v", err) })
	f.w.Transport = answeringBroker{partitions: 4}
	var mu sync.Mutex
	var written []int
	f.w.Completion = func(msgs []kafka.Message, err error) {
		mu.Lock()
		for _, m := range msgs {
			if err == nil {
				written = append(written, m.WriterData.(*fwdData).home)
			}
		}
		mu.Unlock()
		f.completion(msgs, err)
	}
	ctx := context.Background()
	for h := range 3 {
		if !f.mark(ctx, h, markRecord{Topic: "tp", Partition: 3, Watermark: 1, End: 1}) {
			t.Fatal("mark refused")
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	slices.Sort(written)
	if !slices.Equal(written, []int{0, 1, 2}) {
		t.Errorf("marks acknowledged to homes %v when Close returned, want [0 1 2]", written)
	}
	mu.Unlock()
	if f.mark(ctx, 0, markRecord{Topic: "tp", Partition: 3, Watermark: 2, End: 2}) {
		t.Error("a mark after Close was taken")
	}
}
