package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// A touchpoint sent twice with different timestamps counts once, as its
// earliest copy, whatever order the copies arrive in and whether its user
// was evicted between them (its history then reloaded from ClickHouse):
// the view equals replay. (Found by the soak test: an evicted user's live
// later copy was held before its history was merged, and the history's
// earlier copy was dropped as the duplicate.)
func TestDuplicateTouchpointEarliestCopyWinsAcrossEviction(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	t0 := generate.DefaultStart.Add(10 * time.Hour)
	tp := func(id, user string, d time.Duration, source, medium string) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":%q,"user_id":%q,"timestamp":%q,"source":%q,"medium":%q}`,
			id, user, t0.Add(d).UTC().Format(time.RFC3339Nano), source, medium))}
	}
	cv := func(id, user string, d time.Duration) pipelinetest.Msg {
		return pipelinetest.Msg{Key: []byte(user), Value: []byte(fmt.Sprintf(`{"event_id":%q,"user_id":%q,"timestamp":%q,"revenue":10,"currency":"EUR"}`,
			id, user, t0.Add(d).UTC().Format(time.RFC3339Nano)))}
	}
	early := func(id, user string) pipelinetest.Msg { return tp(id, user, 0, "google", "cpc") }
	later := func(id, user string) pipelinetest.Msg { return tp(id, user, time.Hour, "bing", "cpc") }

	// Before the evictions: "later-copy" gets its touchpoint's first,
	// earlier copy; "earlier-copy" its later one; "late-copy" its later
	// one and a conversion, credited at once. Other users make every
	// shard hold more than it may, so that the sweeps evict everyone.
	var first pipelinetest.Events
	first.Touchpoints = append(first.Touchpoints, early("tp-a", "later-copy"), later("tp-b", "earlier-copy"), later("tp-c", "late-copy"))
	first.Conversions = append(first.Conversions, cv("cv-c", "late-copy", 2*time.Hour))
	for i := range 40 {
		u := fmt.Sprint("other-", i)
		first.Touchpoints = append(first.Touchpoints, tp("tp-"+u, u, 3*time.Hour, "newsletter", "email"))
	}
	// After them: the other copies, and conversions for the first two.
	then := pipelinetest.Events{
		Touchpoints: []pipelinetest.Msg{later("tp-a", "later-copy"), early("tp-b", "earlier-copy"), early("tp-c", "late-copy")},
		Conversions: []pipelinetest.Msg{cv("cv-a", "later-copy", 2*time.Hour), cv("cv-b", "earlier-copy", 2*time.Hour)},
	}

	cfg := lateConfig(env)
	cfg.Shards, cfg.MaxUsers = 2, 2 // one per shard: a sweep evicts every user whose rows are durable
	r := pipelinetest.StartRunner(t, cfg)
	env.ProduceEvents(first)
	r.WaitSnapshot(time.Minute, "the first events consumed and credited", func(s pipeline.Snapshot) bool {
		return pipelinetest.Consumed(s) == int64(first.Len()) && s.Attributed == 1
	})
	r.WaitSnapshot(time.Minute, "every user evicted", func(s pipeline.Snapshot) bool { return s.UsersInMemory == 0 })
	env.ProduceEvents(then)
	r.WaitSnapshot(time.Minute, "the copies consumed and credited", func(s pipeline.Snapshot) bool {
		return pipelinetest.Consumed(s) == int64(first.Len()+then.Len()) && s.Attributed == 3
	})
	env.WaitCommitted(time.Minute)
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := r.Snapshot()
	if s.HistoryLoads < 3 {
		t.Errorf("%d history loads, want one per user of the copies at least", s.HistoryLoads)
	}
	// cv-c at least; cv-a and cv-b too when they were credited before the
	// other copy arrived (the two topics are fetched independently).
	if s.Reattributed < 1 {
		t.Errorf("%d re-attributed, want at least 1 (cv-c, by the earlier copy of its touchpoint)", s.Reattributed)
	}

	ref := first.With(then).Reference()
	equalReplay(t, env, ref)
	// Replay's reference itself holds the earliest copies.
	for _, row := range env.Credited() {
		if row.Source != "google" || row.TouchpointTimeMs != t0.UnixMilli() {
			t.Errorf("credited %s, want the earliest copy (google cpc at %s)", pipelinetest.RowString(row), t0.UTC().Format(time.RFC3339))
		}
	}
}
