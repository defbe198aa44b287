package sink_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/schemas"
)

type deadWriter struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (w *deadWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, msgs...)
	w.mu.Unlock()
	return nil
}

type acks struct {
	mu   sync.Mutex
	done []int64
}

func (a *acks) Done(o int64) { a.mu.Lock(); a.done = append(a.done, o); a.mu.Unlock() }

// stitchSink runs a sink on env's freshly migrated database and returns a
// function that sends a unit and waits until it is durable.
func stitchSink(t *testing.T, env *pipelinetest.Env, dead *deadWriter) (write func(u *flow.Unit), st *flow.Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := migrate.Migrate(ctx, env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	st = &flow.Stats{}
	s := sink.New(env.CH, dead, sink.Config{Database: env.Database, FlushInterval: 20 * time.Millisecond}.WithDefaults(), st)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	})
	var seq uint64
	return func(u *flow.Unit) {
		t.Helper()
		seq++
		if !s.Send(ctx, 0, seq, u) {
			t.Fatal("sink: send failed")
		}
		barrier := make(chan error, 1)
		s.In <- sink.Msg{Barrier: barrier}
		if err := <-barrier; err != nil {
			t.Fatalf("sink barrier: %v", err)
		}
	}, st
}

// Identity rows land in identities (kafka_partition: the anonymous_id's
// home, too_late as flagged) and links in links, acknowledged once
// durable. Reading them back: pipeline/history's TestLoadLinksOfHomes.
func TestIdentitiesAndLinksRowsLand(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	write, st := stitchSink(t, env, &deadWriter{})
	ms := time.Date(2026, 11, 27, 9, 20, 0, 0, time.UTC).UnixMilli()
	a := &acks{}
	links := []flow.LinkRow{
		{Link: schemas.Link{AnonymousID: "anon-7", UserID: "u1", EventID: "id-1", TimeMs: ms}, Home: 2, Origin: flow.LinkFromIdentity},
		{Link: schemas.Link{AnonymousID: "anon-7", UserID: "u2", EventID: "tp-9", TimeMs: ms + 1000}, Home: 2, Origin: flow.LinkFromEvent}, // a conflict
		{Link: schemas.Link{AnonymousID: "anon-8", UserID: "u3", EventID: "cv-1", TimeMs: ms + 2000}, Home: 1, Origin: flow.LinkFromEvent},
		{Link: schemas.Link{AnonymousID: "anon-9", UserID: "u4", EventID: "id-2", TimeMs: ms + 3000}, Home: 0, Origin: flow.LinkFromIdentity},
	}
	write(&flow.Unit{
		IDs: []flow.IdentityRow{
			{ID: schemas.Identity{EventID: "id-1", AnonymousID: "anon-7", UserID: "u1", TimeMs: ms}, Partition: 2},
			{ID: schemas.Identity{EventID: "id-0", AnonymousID: "anon-5", UserID: "u5", TimeMs: ms - 90*24*3600*1000}, Partition: 3, TooLate: true},
		},
		Links: slices.Clone(links), // the sink recycles the unit's slices
		Acks:  []flow.Ack{{To: a, Offset: 17}},
	})
	// A retried write of a link stores it again (history.LoadLinks returns
	// it once).
	write(&flow.Unit{Links: slices.Clone(links[:1])})
	if !slices.Equal(a.done, []int64{17}) {
		t.Errorf("acknowledged %v, want [17] once the rows are durable", a.done)
	}
	if got := st.RawRows.Load(); got != 7 {
		t.Errorf("raw rows counted %d, want 7 (2 identities, 5 links)", got)
	}

	ctx := context.Background()
	rows, err := env.CH.Query(ctx, "SELECT event_id, anonymous_id, user_id, ts_ms, toString(event_date), kafka_partition, too_late FROM "+env.Database+".identities ORDER BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, anon, user, date string
		var ts int64
		var part int32
		var late uint8
		if err := rows.Scan(&id, &anon, &user, &ts, &date, &part, &late); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal([]any{id, anon, user, ts, date, part, late})
		got = append(got, string(b))
	}
	rows.Close()
	want := []string{
		`["id-0","anon-5","u5",` + strconv.FormatInt(ms-90*24*3600*1000, 10) + `,"2026-08-29",3,1]`,
		`["id-1","anon-7","u1",` + strconv.FormatInt(ms, 10) + `,"2026-11-27",2,0]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("identities:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var n uint64
	if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+env.Database+".links WHERE origin = 'event' AND home IN (1, 2)").Scan(&n); err != nil || n != 2 {
		t.Errorf("links from events at homes 1 and 2: %d (%v), want 2", n, err)
	}
}

// An identity or link row the server refuses for its values is
// dead-lettered (reason refused, the table named, the row as JSON) and the
// other rows are written, as for the other tables.
func TestRefusedIdentityAndLinkRowsAreDeadLettered(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	dead := &deadWriter{}
	write, st := stitchSink(t, env, dead)
	ctx := context.Background()
	for _, table := range []string{"identities", "links"} {
		// A column that cannot be computed for event_id "x-bad".
		if err := env.CH.Exec(ctx, "ALTER TABLE "+env.Database+"."+table+" ADD COLUMN n UInt64 MATERIALIZED toUInt64(event_id)"); err != nil {
			t.Fatal(err)
		}
	}
	a := &acks{}
	write(&flow.Unit{
		IDs: []flow.IdentityRow{
			{ID: schemas.Identity{EventID: "1", AnonymousID: "a1", UserID: "u1", TimeMs: 1764235200000}, Partition: 0},
			{ID: schemas.Identity{EventID: "x-bad", AnonymousID: "a2", UserID: "u2", TimeMs: 1764235200000}, Partition: 1},
		},
		Links: []flow.LinkRow{
			{Link: schemas.Link{AnonymousID: "a1", UserID: "u1", EventID: "1", TimeMs: 1764235200000}, Home: 0, Origin: flow.LinkFromIdentity},
			{Link: schemas.Link{AnonymousID: "a2", UserID: "u2", EventID: "x-bad", TimeMs: 1764235200000}, Home: 1, Origin: flow.LinkFromIdentity},
		},
		Acks: []flow.Ack{{To: a, Offset: 3}},
	})
	if !slices.Equal(a.done, []int64{3}) || st.Refused.Load() != 2 {
		t.Fatalf("acknowledged %v, refused %d; want [3] and 2 rows refused", a.done, st.Refused.Load())
	}
	tables := map[string]string{}
	for _, m := range dead.msgs {
		var h = map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		tables[h["attributor.table"]] = string(m.Key) + " " + h["attributor.reason"] + " " + string(m.Value)
	}
	for _, table := range []string{"identities", "links"} {
		if d := tables[table]; !strings.HasPrefix(d, "x-bad refused ") || !strings.Contains(d, `"anonymous_id":"a2"`) {
			t.Errorf("dead letter of the refused %s row: %q", table, d)
		}
	}
	for _, table := range []string{"identities", "links"} {
		var n uint64
		if err := env.CH.QueryRow(ctx, "SELECT count() FROM "+env.Database+"."+table+" WHERE event_id = '1'").Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: the good row stored %d times (%v), want once", table, n, err)
		}
	}
}
