package source

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
)

// A direct fetcher hands its items over in batches: every shard gets its
// items in fetch order, more than a batch of them included, and a mark
// after every item routed before it.
func TestBatchedItemsInOrderBeforeTheMark(t *testing.T) {
	r := newStitchRig(t, false, 0)
	for i := range r.shards {
		r.shards[i] = make(chan []flow.Item, 64)
	}
	f := r.fetcher(rigTP, 0)
	const n = 3*flow.BatchItems + 7
	for off := range int64(n) {
		user := keyWithHome(fmt.Sprintf("user%d-", off), 0)
		m := kafka.Message{Topic: rigTP, Partition: 0, Offset: off, Value: []byte(touchpointJSON(fmt.Sprint("tp-", off), user, "")), Time: time.Now()}
		f.tracker.Add(m.Offset)
		if !f.route(context.Background(), &m, true, time.Now()) {
			t.Fatalf("route of offset %d returned false", off)
		}
	}
	f.markAll(context.Background(), true)
	got := 0
	for i, s := range r.shards {
		last := int64(-1)
		var items []flow.Item
		for len(s) > 0 {
			items = append(items, <-s...)
		}
		if len(items) == 0 || items[len(items)-1].Kind != flow.KindMark {
			t.Fatalf("shard %d: %d items, the last not a mark", i, len(items))
		}
		if items[len(items)-1].WM == 0 {
			t.Errorf("shard %d: the mark carries no watermark", i)
		}
		for _, it := range items[:len(items)-1] {
			if it.Kind != flow.KindTouchpoint || it.Offset <= last {
				t.Fatalf("shard %d: item %v at offset %d after offset %d", i, it.Kind, it.Offset, last)
			}
			last = it.Offset
			got++
		}
	}
	if got != n {
		t.Errorf("%d touchpoints reached the shards, want %d", got, n)
	}
}

// A batch that is not full reaches its shard without anything else
// happening (no further message, no mark): the flush timer hands it over.
// The watermark never covers an item still pending.
func TestBatchedItemHandedOverByTimer(t *testing.T) {
	r := newStitchRig(t, false, 0)
	f := r.fetcher(rigTP, 0)
	user := keyWithHome("user-", 0)
	m := kafka.Message{Topic: rigTP, Partition: 0, Offset: 1, Value: []byte(touchpointJSON("tp-1", user, "")), Time: time.Now()}
	f.tracker.Add(m.Offset)
	if !f.route(context.Background(), &m, true, time.Now()) {
		t.Fatal("route returned false")
	}
	s := r.shards[shardOf(user, len(r.shards))]
	deadline := time.Now().Add(5 * time.Second)
	for {
		wm := f.Watermark()
		queued := len(s)
		if wm != 0 && queued == 0 {
			t.Fatal("the watermark moved before its touchpoint was handed over")
		}
		if queued > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a pending item was not handed over within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	if b := <-s; len(b) != 1 || b[0].TP.EventID != "tp-1" {
		t.Fatalf("handed over %+v, want tp-1", b)
	}
	for f.Watermark() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watermark did not move once the item was handed over")
		}
		time.Sleep(time.Millisecond)
	}
}
