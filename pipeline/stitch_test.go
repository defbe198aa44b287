package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/pipeline/replay"
	"github.com/attributor/attributor/schemas"
)

// Identity stitching in the stream (docs/DESIGN.md "Identity stitching in
// the stream"): the view written by `attributor run` with an identities
// topic equals `attributor replay --identities` on the same events, and
// the README's example gives its hand-checked credits through the stream.

// stitchOptions are the partition counts of the stitching tests: input
// topics of 4 (touchpoints), 3 (conversions) and 2 (identities)
// partitions, none of them keyed as the attributor would.
var stitchOptions = pipelinetest.Options{Partitions: 4, ConversionPartitions: 3, Identities: 2}

// readmeStitching returns the events of the README's stitching example
// (testdata/stitching, the files the README shows): a logged-out
// google/cpc click of anon-7 at 09:00, the login anon-7 → u1 at 09:20, a
// purchase of u1 for 80 EUR at 09:30. Each is keyed as its producer would
// key it: by user_id, else anonymous_id.
func readmeStitching(t *testing.T) pipelinetest.Events {
	t.Helper()
	dir := filepath.Join("..", "testdata", "stitching")
	read := func(name string) []pipelinetest.Msg {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []pipelinetest.Msg
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			out = append(out, stitchMsg(sc.Text()))
		}
		if err := sc.Err(); err != nil || len(out) == 0 {
			t.Fatalf("%s: %d lines, %v", name, len(out), err)
		}
		return out
	}
	return pipelinetest.Events{Touchpoints: read("touchpoints.ndjson"), Conversions: read("conversions.ndjson"), Identities: read("identities.ndjson")}
}

// stitchMsg keys an event by its user_id, else its anonymous_id.
func stitchMsg(value string) pipelinetest.Msg {
	var ids struct {
		UserID      string `json:"user_id"`
		AnonymousID string `json:"anonymous_id"`
	}
	if err := json.Unmarshal([]byte(value), &ids); err != nil {
		panic(err)
	}
	key := ids.UserID
	if key == "" {
		key = ids.AnonymousID
	}
	return pipelinetest.Msg{Key: []byte(key), Value: []byte(value)}
}

// credited returns the rows of the view for a conversion and a model.
func credited(rows []schemas.CreditedRow, conv, model string) []schemas.CreditedRow {
	var out []schemas.CreditedRow
	for _, r := range rows {
		if r.ConversionID == conv && r.Model == model {
			out = append(out, r)
		}
	}
	return out
}

// currentVersion returns the version under which the view credits a
// conversion (failing t unless exactly one version is current).
func currentVersion(t *testing.T, env *pipelinetest.Env, conv string) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	rows, err := env.CH.Query(ctx, "SELECT DISTINCT version FROM "+env.Database+".credited_conversions WHERE conversion_id = '"+conv+"'")
	if err != nil {
		t.Fatalf("version of %s: %v", conv, err)
	}
	defer rows.Close()
	var vs []uint32
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("version of %s: %v", conv, err)
		}
		vs = append(vs, v)
	}
	if len(vs) != 1 {
		t.Fatalf("conversion %s is credited under versions %v, want exactly one", conv, vs)
	}
	return vs[0]
}

// paidSearchClicks returns the clicks channel_performance counts for
// paid_search under the last_click model.
func paidSearchClicks(t *testing.T, env *pipelinetest.Env) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	var n uint64
	if err := env.CH.QueryRow(ctx, "SELECT toUInt64(sum(clicks)) FROM "+env.Database+".channel_performance WHERE model = 'last_click' AND channel = 'paid_search'").Scan(&n); err != nil {
		t.Fatalf("channel_performance: %v", err)
	}
	return n
}

// checkLastClick fails t unless the view credits conv under last_click
// wholly to touchpoint tp (the other touchpoints of its path get rows of
// credit 0), every row under user_key u1.
func checkLastClick(t *testing.T, rows []schemas.CreditedRow, conv, tp, channel string) {
	t.Helper()
	lc := credited(rows, conv, "last_click")
	whole := 0
	for _, r := range lc {
		if r.UserKey != "u1" {
			whole = -1
			break
		}
		if r.Credit == 1 && r.TouchpointID == tp && r.Channel == channel {
			whole++
		} else if r.Credit != 0 {
			whole = -1
			break
		}
	}
	if whole != 1 {
		t.Errorf("%s, last_click: got %v; want touchpoint %q (channel %s) credited 1, every row under user_key u1", conv, lc, tp, channel)
	}
}

// The README example through the stream, all three events produced at
// once (the stream reads the three topics in any order): c1's path is the
// logged-out click, paid_search gets the 80 EUR, user_key is u1, and the
// view is replay's.
func TestStitchReadmeExample(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := readmeStitching(t)
	producePartitionFree(env, ev, 1401)
	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev)
	rows := env.Credited()
	checkLastClick(t, rows, "c1", "t1", "paid_search")
	if lin := credited(rows, "c1", "linear"); len(lin) != 1 || lin[0].RevenueMicros != 80_000_000 {
		t.Errorf("c1, linear: %v; want the click credited the whole 80 EUR", lin)
	}
	if s.Identities != 1 || s.LinksIdentity != 1 || s.LinksEvent != 0 || s.LinkConflicts != 0 || s.LinksTooLate != 0 {
		t.Errorf("counters: %d identity events, %d links from identities, %d from events, %d conflicts, %d too late; want 1, 1, 0, 0, 0",
			s.Identities, s.LinksIdentity, s.LinksEvent, s.LinkConflicts, s.LinksTooLate)
	}
	if n := paidSearchClicks(t, env); n != 1 {
		t.Errorf("channel_performance counts %d paid_search clicks, want 1: the stitched click must count once", n)
	}
}

// The README example with the login arriving after the purchase was
// credited: first c1 has no touchpoint ((none), user_key u1, version 1);
// the identity event then links anon-7 to u1 retroactively, and c1 is
// re-attributed under a higher version: paid_search, as replay says. The
// README's "Identity stitching in the stream" shows these two states and
// versions.
func TestStitchRetroactiveLogin(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := readmeStitching(t)
	before := pipelinetest.Events{Touchpoints: ev.Touchpoints, Conversions: ev.Conversions}
	producePartitionFree(env, before, 1402)
	s1 := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, before)
	rows := credited(env.Credited(), "c1", "last_click")
	if len(rows) != 1 || rows[0].Channel != "(none)" || rows[0].UserKey != "u1" {
		t.Fatalf("before the login: c1, last_click = %v; want one (none) row under u1", rows)
	}
	if s1.Attributed != 1 || s1.Moves != 0 {
		t.Errorf("before the login: %d attributed, %d moves; want 1, 0", s1.Attributed, s1.Moves)
	}
	v1 := currentVersion(t, env, "c1")
	query, want := readmeStreamExample(t)
	if got := tsv(t, env, query); got != want[0] {
		t.Errorf("before the login the README's query prints\n%s\nthe README says\n%s", got, want[0])
	}

	env.ProduceIdentities(ev.Identities, &kafka.CRC32Balancer{})
	s2 := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev)
	checkLastClick(t, env.Credited(), "c1", "t1", "paid_search")
	v2 := currentVersion(t, env, "c1")
	t.Logf("c1: version %d before the login, %d after", v1, v2)
	// docs/DESIGN.md "As built: stitching", Versions: the number of the
	// path's events (the conversion and its touchpoints), or one above the
	// version last written when that is not more; the README shows these.
	if v1 != 1 || v2 != 2 {
		t.Errorf("c1: versions %d then %d; the README says 1 then 2", v1, v2)
	}
	if s2.Identities != 1 || s2.LinksIdentity != 1 || s2.Moves < 1 || s2.Reattributed != 1 || s2.ReattributedLink != 1 {
		t.Errorf("after the login: %d identity events, %d links from identities, %d moves, %d re-attributed (%d by a link); want 1, 1, >= 1, 1, 1",
			s2.Identities, s2.LinksIdentity, s2.Moves, s2.Reattributed, s2.ReattributedLink)
	}
	if got := tsv(t, env, query); got != want[1] {
		t.Errorf("after the login the README's query prints\n%s\nthe README says\n%s", got, want[1])
	}
	if n := paidSearchClicks(t, env); n != 1 {
		t.Errorf("channel_performance counts %d paid_search clicks, want 1: the moved click must count once", n)
	}
}

// readmeStreamExample returns the query of the README's "The example
// through the stream" and the two outputs it shows, before and after the
// login.
func readmeStreamExample(t *testing.T) (string, [2]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### The example through the stream\n")
	if !ok {
		t.Fatal(`README.md has no "### The example through the stream"`)
	}
	if i := strings.Index(sec, "\n#"); i >= 0 {
		sec = sec[:i]
	}
	blocks := strings.Split(sec, "```")
	m := regexp.MustCompile(`(?s)clickhouse-client -q "(.*?)"`).FindStringSubmatch(sec)
	if len(blocks) < 9 || m == nil {
		t.Fatalf("the README's stream example is not two commands blocks each followed by its output:\n%s", sec)
	}
	return m[1], [2]string{strings.TrimSpace(blocks[3]), strings.TrimSpace(blocks[7])}
}

// tsv runs query on the Env's database (for the database attribution)
// and prints its rows as clickhouse-client does: tab-separated.
func tsv(t *testing.T, env *pipelinetest.Env, query string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	rows, err := env.CH.Query(ctx, strings.ReplaceAll(query, "attribution.", env.Database+"."))
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		cols := rows.ColumnTypes()
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			cells[i] = fmt.Sprint(reflect.ValueOf(v).Elem().Interface())
		}
		lines = append(lines, strings.Join(cells, "\t"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// A conversion from the device (anonymous_id only), credited under the
// device's key before the login, moves to the user's key when the login
// arrives: its path then holds the device's click and the user's own
// logged-in email click, its user_key is u1, and the rows under anon-7
// are gone from the view.
func TestStitchDeviceConversionMoves(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := readmeStitching(t)
	dev := pipelinetest.Events{
		Touchpoints: append(ev.Touchpoints[:1:1],
			stitchMsg(`{"event_id":"t2","user_id":"u1","timestamp":"2026-11-27T09:25:00.000Z","interaction":"click","source":"newsletter","medium":"email"}`)),
		Conversions: []pipelinetest.Msg{
			stitchMsg(`{"event_id":"c2","anonymous_id":"anon-7","timestamp":"2026-11-27T09:40:00.000Z","conversion_type":"purchase","revenue":50,"currency":"EUR"}`),
		},
	}
	producePartitionFree(env, dev, 1403)
	pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, dev)
	rows := credited(env.Credited(), "c2", "last_click")
	if len(rows) != 1 || rows[0].TouchpointID != "t1" || rows[0].UserKey != "anon-7" {
		t.Fatalf("before the login: c2, last_click = %v; want the click t1 under anon-7", rows)
	}

	env.ProduceIdentities(ev.Identities, &kafka.CRC32Balancer{})
	s := pipelinetest.RunUntilCaughtUp(t, env.Config())
	dev.Identities = ev.Identities
	equalReplay(t, env, dev)
	all := env.Credited()
	checkLastClick(t, all, "c2", "t2", "email")
	lin := credited(all, "c2", "linear")
	if len(lin) != 2 || lin[0].RevenueMicros != 25_000_000 || lin[1].RevenueMicros != 25_000_000 {
		t.Errorf("c2, linear: %v; want t1 and t2 credited 25 EUR each", lin)
	}
	for _, r := range all {
		if r.UserKey != "u1" {
			t.Errorf("after the login a row is still under %q: %+v", r.UserKey, r)
		}
	}
	if s.ReattributedLink < 1 {
		t.Errorf("after the login: %d conversions re-attributed by a link, want c2", s.ReattributedLink)
	}
}

// stitchedTraffic is `attributor generate --logged-out-share 0.4`
// traffic: devices, logins as identity events (some hours or days late),
// shared devices, conversions from the backend and from the device.
func stitchedTraffic(t *testing.T, seed int64, events int) pipelinetest.Events {
	t.Helper()
	return pipelinetest.Generate(t, generate.Config{Seed: seed, Events: events, LoggedOutShare: 0.4})
}

// stitchedReference returns replay's rows and link counts for ev, and
// fails t unless the traffic exercises stitching: devices linked and
// shared devices (conflicts).
func stitchedReference(t *testing.T, ev pipelinetest.Events) ([]schemas.CreditedRow, replay.LinkStats) {
	t.Helper()
	rows, st := pipelinetest.ReplayStitched(t, ev, replay.Config{})
	t.Logf("reference: %d identity events, %d events with both ids, %d devices linked, %d conflicts", st.Identities, st.EventLinks, st.Devices, st.Conflicts)
	if st.Devices == 0 || st.Conflicts == 0 {
		t.Fatalf("the traffic links %d devices with %d conflicts; the test needs both (shared devices)", st.Devices, st.Conflicts)
	}
	return rows, st
}

// changedConversions returns the conversions whose rows differ between a
// and b.
func changedConversions(a, b []schemas.CreditedRow) map[string]bool {
	rows := func(rs []schemas.CreditedRow) map[string]map[schemas.CreditedRow]int {
		m := map[string]map[schemas.CreditedRow]int{}
		for _, r := range rs {
			if m[r.ConversionID] == nil {
				m[r.ConversionID] = map[schemas.CreditedRow]int{}
			}
			m[r.ConversionID][r]++
		}
		return m
	}
	ra, rb := rows(a), rows(b)
	out := map[string]bool{}
	for c, x := range ra {
		y := rb[c]
		if len(x) != len(y) {
			out[c] = true
			continue
		}
		for r, n := range x {
			if y[r] != n {
				out[c] = true
				break
			}
		}
	}
	for c := range rb {
		if ra[c] == nil {
			out[c] = true
		}
	}
	return out
}

// checkCommitted fails t unless the group committed the end of every
// partition of the input topics, identities included.
func checkCommitted(t *testing.T, env *pipelinetest.Env) {
	t.Helper()
	for _, topic := range []string{env.Touchpoints, env.Conversions, env.Identities} {
		committed := env.CommittedOffsets(topic)
		for p, end := range env.EndOffsets(topic) {
			if committed[p] != end {
				t.Errorf("%s/%d: committed %d, end %d", topic, p, committed[p], end)
			}
		}
	}
}

// Streaming equals replay on generated logged-out traffic produced with
// CRC32 and random partitioners into topics of 4, 3 and 2 partitions. The
// identity events come in two halves: the first with the touchpoints and
// conversions, the second after every conversion was credited, as logins
// delivered late. After each run the view is replay's of what was
// produced so far; the second run re-attributes, because of links, at
// least every conversion whose credits the late links change.
func TestStitchedStreamEqualsReplay(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := stitchedTraffic(t, 1404, 6000)
	first, late := halveIdentities(ev)
	want1, _ := pipelinetest.ReplayStitched(t, first, replay.Config{})
	want2, links := stitchedReference(t, ev)
	changed := changedConversions(want1, want2)
	t.Logf("the late identity events change the credits of %d conversions", len(changed))
	if len(changed) == 0 {
		t.Fatal("the late identity events change no credit: the test would not show re-attribution by links")
	}

	producePartitionFree(env, first, 1404)
	s1 := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, first)
	checkCommitted(t, env)

	env.ProduceIdentities(late.Identities, &kafka.CRC32Balancer{})
	s2 := pipelinetest.RunUntilCaughtUp(t, env.Config())
	equalReplay(t, env, ev)
	checkCommitted(t, env)

	// Consumed, copies re-sent by the generator included or not.
	if n := s1.Identities + s2.Identities; n < links.Identities-links.DuplicateIdentities || n > links.Identities {
		t.Errorf("%d identity events consumed; %d produced, %d of them distinct", n, links.Identities, links.Identities-links.DuplicateIdentities)
	}
	if s1.LinksEvent == 0 || s1.ForwardedLinks == 0 {
		t.Errorf("first run: %d links from events with both ids, %d link copies forwarded; the traffic has both", s1.LinksEvent, s1.ForwardedLinks)
	}
	// Every device linked was decided by a link counted in one of the two
	// runs; every conflict at the end became one in one of them.
	if n := s1.LinksIdentity + s1.LinksEvent + s2.LinksIdentity + s2.LinksEvent; n < links.Devices {
		t.Errorf("%d links counted, fewer than the %d devices replay links", n, links.Devices)
	}
	if n := s1.LinkConflicts + s2.LinkConflicts; n < links.Conflicts {
		t.Errorf("%d conflicts counted, fewer than the %d replay finds", n, links.Conflicts)
	}
	if s1.LinksTooLate+s2.LinksTooLate != 0 {
		t.Errorf("%d links too late; every login is within the horizon", s1.LinksTooLate+s2.LinksTooLate)
	}
	if s2.ReattributedLink < int64(len(changed)) || s2.Reattributed < s2.ReattributedLink {
		t.Errorf("second run: %d re-attributed, %d by a link; the late links change %d conversions",
			s2.Reattributed, s2.ReattributedLink, len(changed))
	}
	if s2.Moves == 0 {
		t.Error("second run: no move; the late links move devices")
	}
}

// Two instances in one group share the homes, the link tables and input
// partitions of counts 4, 3 and 2; together they write replay's result.
func TestStitchedTwoInstances(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := stitchedTraffic(t, 1405, 6000)
	_, links := stitchedReference(t, ev)
	producePartitionFree(env, ev, 1405)
	ctx, cancel := context.WithTimeout(context.Background(), pipelinetest.RunTimeout)
	defer cancel()
	runners := runCaughtUp(ctx, t, env, 2)
	var identities, linked, conflicts int64
	for i, r := range runners {
		s := r.Snapshot()
		t.Logf("instance %d: %d touchpoints, %d conversions, %d identity events, %d links, %d conflicts, %d moves, %d attributed",
			i, s.Touchpoints, s.Conversions, s.Identities, s.LinksIdentity+s.LinksEvent, s.LinkConflicts, s.Moves, s.Attributed)
		identities += s.Identities
		linked += s.LinksIdentity + s.LinksEvent
		conflicts += s.LinkConflicts
	}
	equalReplay(t, env, ev)
	checkCommitted(t, env)
	if identities < links.Identities-links.DuplicateIdentities || identities > links.Identities {
		t.Errorf("%d identity events consumed by the two; %d produced, %d of them distinct", identities, links.Identities, links.Identities-links.DuplicateIdentities)
	}
	if linked < links.Devices || conflicts < links.Conflicts {
		t.Errorf("%d links and %d conflicts counted by the two; replay links %d devices with %d conflicts",
			linked, conflicts, links.Devices, links.Conflicts)
	}
}

// `attributor run` on logged-out traffic, killed with SIGKILL while it
// forwards events, link copies and moves, then run again until caught up:
// the links it had stored and the ones re-sent dedup, and the view is
// exactly replay's with links.
func TestStitchedAcrossSIGKILL(t *testing.T) {
	env := pipelinetest.New(t, stitchOptions)
	ev := stitchedTraffic(t, 1406, 200_000)
	stitchedReference(t, ev)
	producePartitionFree(env, ev, 1406)
	killThenCatchUp(t, env)
	equalReplay(t, env, ev)
	checkCommitted(t, env)
}

// halveIdentities splits ev in two: first holds every event and every
// other identity event, late the remaining identity events (logins
// delivered after everything else).
func halveIdentities(ev pipelinetest.Events) (first, late pipelinetest.Events) {
	first = ev
	first.Identities = nil
	for i, m := range ev.Identities {
		if i%2 == 0 {
			first.Identities = append(first.Identities, m)
		} else {
			late.Identities = append(late.Identities, m)
		}
	}
	return first, late
}
