package generate

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/schemas"
)

type emitted struct {
	kind  Kind
	key   string
	value string
}

func collect(t *testing.T, cfg Config) ([]emitted, *Traffic) {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []emitted
	if err := tr.Emit(func(k Kind, key string, v []byte) error {
		out = append(out, emitted{k, key, string(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, tr
}

func digest(t *testing.T, cfg Config) [32]byte {
	t.Helper()
	h := sha256.New()
	if err := Generate(cfg, func(k Kind, key string, v []byte) error {
		h.Write([]byte{byte(k)})
		h.Write([]byte(key))
		h.Write(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

func TestSameSeedSameBytes(t *testing.T) {
	a, b := digest(t, Config{Seed: 7, Users: 3000}), digest(t, Config{Seed: 7, Users: 3000})
	if a != b {
		t.Errorf("two runs with seed 7 differ")
	}
	if c := digest(t, Config{Seed: 8, Users: 3000}); c == a {
		t.Errorf("seeds 7 and 8 give the same traffic")
	}
}

// Every event is valid under the contract, keyed by its attribution key,
// inside the traffic's span and in stream order; the channel a touchpoint
// names is the one its source/medium derive to, so omitting it changes
// nothing.
func TestEventsAreValidAndOrdered(t *testing.T) {
	cfg := Config{Seed: 1, Users: 5000, Start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Duration: 24 * time.Hour}
	events, tr := collect(t, cfg)
	dec := schemas.NewDecoder(nil)
	rules := schemas.DefaultChannelRules()
	lo, hi := cfg.Start.UnixMilli(), cfg.Start.Add(cfg.Duration).UnixMilli()
	seen := map[string]string{} // event_id -> value
	var maxTs int64
	var tps, cvs, omitted, dups int
	for i, e := range events {
		var id, key string
		var ts int64
		if e.kind == Touchpoint {
			tp, err := dec.Touchpoint([]byte(e.value))
			if err != nil {
				t.Fatalf("event %d: %v: %s", i, err, e.value)
			}
			tps++
			id, key, ts = tp.EventID, tp.Key(), tp.TimeMs
			if derived := rules.Channel(tp.Source, tp.Medium); derived != tp.Channel {
				t.Errorf("%s/%s derives to %s, event says %s", tp.Source, tp.Medium, derived, tp.Channel)
			}
			if !strings.Contains(e.value, `"channel"`) {
				omitted++
			}
		} else {
			cv, err := dec.Conversion([]byte(e.value))
			if err != nil {
				t.Fatalf("event %d: %v: %s", i, err, e.value)
			}
			cvs++
			id, key, ts = cv.EventID, cv.Key(), cv.TimeMs
		}
		if key != e.key {
			t.Errorf("event %d: key %q, want attribution key %q", i, e.key, key)
		}
		if ts < lo || ts > hi {
			t.Errorf("event %d: timestamp %s outside the span", i, schemas.FormatTimeMs(ts))
		}
		if prev, ok := seen[id]; ok {
			dups++
			if prev != e.value {
				t.Errorf("duplicate %s is not identical:\n%s\n%s", id, prev, e.value)
			}
			if ts > maxTs || maxTs-ts > maxDuplicateDelay {
				t.Errorf("duplicate %s re-emitted %d ms after its time", id, maxTs-ts)
			}
			continue
		}
		seen[id] = e.value
		if ts < maxTs {
			t.Errorf("event %d (%s) out of order: %s after %s", i, id, schemas.FormatTimeMs(ts), schemas.FormatTimeMs(maxTs))
		}
		maxTs = ts
	}
	if tps != tr.Count(Touchpoint) || cvs != tr.Count(Conversion) || dups != tr.Duplicates() || len(events) != tr.Len() {
		t.Errorf("counts: %d tp %d cv %d dups of %d; traffic says %d %d %d of %d", tps, cvs, dups, len(events),
			tr.Count(Touchpoint), tr.Count(Conversion), tr.Duplicates(), tr.Len())
	}
	if share := float64(omitted) / float64(tps); share < 0.25 || share > 0.35 {
		t.Errorf("%.2f of touchpoints omit channel, want about 0.30", share)
	}
	if share := float64(dups) / float64(len(events)); share < 0.005 || share > 0.015 {
		t.Errorf("%.3f of events are duplicates, want about 0.01", share)
	}
}

// The traffic looks like what an attribution model is meant for: multi-touch
// journeys, conversions driven by the channel mix, paid media with costs.
func TestTrafficShape(t *testing.T) {
	events, tr := collect(t, Config{Seed: 3, Users: 20000})
	dec := schemas.NewDecoder(nil)
	type userStats struct {
		touchpoints, conversions int
		channels                 map[string]bool
	}
	users := map[string]*userStats{}
	seen := map[string]bool{}
	var impressions, anonymous int
	for _, e := range events {
		if e.kind == Touchpoint {
			tp, _ := dec.Touchpoint([]byte(e.value))
			if seen[tp.EventID] {
				continue
			}
			seen[tp.EventID] = true
			u := users[e.key]
			if u == nil {
				u = &userStats{channels: map[string]bool{}}
				users[e.key] = u
				if tp.UserID == "" {
					anonymous++
				}
			}
			u.touchpoints++
			u.channels[tp.Channel] = true
			switch {
			case tp.Interaction == "impression":
				impressions++
				if tp.Cost != 0 && (tp.Cost < 0.002 || tp.Cost > 0.01) {
					t.Errorf("impression cost %v outside [0.002, 0.01]", tp.Cost)
				}
			case tp.Cost != 0 && (tp.Cost < 0.2 || tp.Cost > 3):
				t.Errorf("click cost %v outside [0.2, 3]", tp.Cost)
			}
			if paid := tp.Channel == "paid_search" || tp.Channel == "paid_social" || tp.Channel == "display"; paid != (tp.Cost > 0) {
				t.Errorf("%s %s touchpoint with cost %v", tp.Channel, tp.Interaction, tp.Cost)
			}
		} else {
			cv, _ := dec.Conversion([]byte(e.value))
			if seen[cv.EventID] {
				continue
			}
			seen[cv.EventID] = true
			users[e.key].conversions++
			if cv.ConversionType == "purchase" && cv.RevenueMicros < 1_000_000 {
				t.Errorf("purchase with revenue %d micros", cv.RevenueMicros)
			}
		}
	}
	if len(users) != tr.Users() {
		t.Errorf("%d users seen, traffic has %d", len(users), tr.Users())
	}
	rate := func(pick func(*userStats) bool) (float64, int) {
		n, conv := 0, 0
		for _, u := range users {
			if pick(u) {
				n++
				if u.conversions > 0 {
					conv++
				}
			}
		}
		return float64(conv) / float64(max(n, 1)), n
	}
	all, _ := rate(func(*userStats) bool { return true })
	displayOnly, nd := rate(func(u *userStats) bool { return len(u.channels) == 1 && u.channels["display"] })
	withEmail, ne := rate(func(u *userStats) bool { return u.channels["email"] })
	t.Logf("conversion rate %.3f; display only %.3f (%d users); with email %.3f (%d users)", all, displayOnly, nd, withEmail, ne)
	if !(displayOnly < all/4 && withEmail > 1.5*all) {
		t.Errorf("conversion rates do not follow the channel mix: all %.3f, display only %.3f, with email %.3f", all, displayOnly, withEmail)
	}
	var multi, twice, longest int
	for _, u := range users {
		if u.touchpoints > 1 {
			multi++
		}
		if u.conversions > 1 {
			twice++
		}
		longest = max(longest, u.touchpoints)
	}
	// A journey has up to maxTouchpoints, plus up to 3 before a second
	// purchase, each click of a channel that serves impressions after one.
	if multi < len(users)/3 || twice == 0 || longest > 2*(maxTouchpoints+3) || longest < maxTouchpoints {
		t.Errorf("journeys: %d of %d multi-touch, %d convert twice, longest %d", multi, len(users), twice, longest)
	}
	if share := float64(anonymous) / float64(len(users)); share < 0.10 || share > 0.20 {
		t.Errorf("%.2f of users are anonymous, want about 0.15", share)
	}
	if impressions == 0 {
		t.Errorf("no impressions")
	}
}

func TestEventsTarget(t *testing.T) {
	tr, err := New(Config{Seed: 1, Events: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() < 5000 || tr.Len() > 5000+2*(maxTouchpoints+5) {
		t.Errorf("Events 5000 gave %d events", tr.Len())
	}
}

func TestEmitKind(t *testing.T) {
	tr, err := New(Config{Seed: 2, Users: 500})
	if err != nil {
		t.Fatal(err)
	}
	var all, conv bytes.Buffer
	tr.Emit(func(k Kind, _ string, v []byte) error {
		if k == Conversion {
			all.Write(v)
			all.WriteByte('\n')
		}
		return nil
	})
	tr.EmitKind(Conversion, func(k Kind, _ string, v []byte) error {
		if k != Conversion {
			t.Fatalf("EmitKind(Conversion) emitted a %v", k)
		}
		conv.Write(v)
		conv.WriteByte('\n')
		return nil
	})
	if all.Len() == 0 || !bytes.Equal(all.Bytes(), conv.Bytes()) {
		t.Errorf("EmitKind(Conversion) differs from the conversions of Emit")
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Users: -1}, "users: must be >= 0"},
		{Config{Events: -5}, "events: must be in"},
		{Config{Duration: time.Millisecond}, "duration: must be >= 1s"},
		{Config{Start: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, "start: "},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		tr, err := New(Config{Seed: 1, Events: 200_000})
		if err != nil {
			b.Fatal(err)
		}
		tr.Emit(func(Kind, string, []byte) error { return nil })
	}
	b.ReportMetric(float64(200_000*b.N)/b.Elapsed().Seconds(), "events/s")
}

// testdata/small is this generator's output for seed 1 and 100 users; docs
// and tests use it. After a deliberate change of the traffic, regenerate it:
//
//	go run ./cmd/attributor generate --seed 1 --users 100 --out testdata/small
func TestSmallSampleIsCurrent(t *testing.T) {
	var tp, cv bytes.Buffer
	if err := Generate(Config{Seed: 1, Users: 100}, func(k Kind, _ string, v []byte) error {
		w := &tp
		if k == Conversion {
			w = &cv
		}
		w.Write(v)
		return w.WriteByte('\n')
	}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"touchpoints.ndjson": tp.Bytes(), "conversions.ndjson": cv.Bytes()} {
		got, err := os.ReadFile(filepath.Join("..", "..", "testdata", "small", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/small/%s is not the output of seed 1, 100 users: regenerate it (see the comment)", name)
		}
	}
}

// Where a channel serves impressions, a click follows one on the same UTC
// day, channel and campaign: CTR (clicks / impressions) never exceeds 100%,
// per channel nor per day, channel and campaign (as channel_performance
// groups them). Duplicates count, as the views count raw events only once
// but a test of the generator sees them.
func TestCTRAtMostOne(t *testing.T) {
	out, _ := collect(t, Config{Seed: 3, Users: 20000, Start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Duration: 48 * time.Hour})
	dec := schemas.NewDecoder(nil)
	type key struct{ day, channel, campaign string }
	type counts struct{ impressions, clicks int }
	perDay, perChannel := map[key]*counts{}, map[string]*counts{}
	seen := map[string]bool{}
	for _, e := range out {
		if e.kind != Touchpoint {
			continue
		}
		tp, err := dec.Touchpoint([]byte(e.value))
		if err != nil {
			t.Fatal(err)
		}
		if seen[tp.EventID] {
			continue // a duplicate: the pipeline counts it once
		}
		seen[tp.EventID] = true
		k := key{time.UnixMilli(tp.TimeMs).UTC().Format("2006-01-02"), tp.Channel, tp.Campaign}
		if perDay[k] == nil {
			perDay[k] = &counts{}
		}
		if perChannel[tp.Channel] == nil {
			perChannel[tp.Channel] = &counts{}
		}
		if tp.Interaction == schemas.InteractionImpression {
			perDay[k].impressions++
			perChannel[tp.Channel].impressions++
		} else {
			perDay[k].clicks++
			perChannel[tp.Channel].clicks++
		}
	}
	served := 0
	for ch, c := range perChannel {
		if c.impressions == 0 {
			continue // a channel without impressions (search, email...): no CTR
		}
		served++
		if c.clicks > c.impressions || c.clicks == 0 {
			t.Errorf("%s: %d clicks, %d impressions: CTR %.0f%%", ch, c.clicks, c.impressions, 100*float64(c.clicks)/float64(c.impressions))
		}
	}
	if served < 2 {
		t.Errorf("only %d channels serve impressions: %v", served, perChannel)
	}
	for k, c := range perDay {
		if c.impressions > 0 && c.clicks > c.impressions || c.impressions == 0 && c.clicks > 0 && perChannel[k.channel].impressions > 0 {
			t.Errorf("%v: %d clicks, %d impressions", k, c.clicks, c.impressions)
		}
	}
}
