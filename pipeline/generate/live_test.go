package generate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/attributor/attributor/schemas"
)

// Live traffic is the same events in the same order, paced at the rate and
// stamped with the wall clock of their emission.
func TestEmitLive(t *testing.T) {
	cfg := Config{Seed: 4, Events: 3000}
	want, tr := collect(t, cfg)
	const rate = 30_000.0 // 3000 events: about 100 ms
	dec := schemas.NewDecoder(nil)
	var got []emitted
	var stamps []int64
	flushes := 0
	began := time.Now()
	err := tr.EmitLive(context.Background(), rate, func(k Kind, key string, v []byte) error {
		got = append(got, emitted{k, key, string(v)})
		var ms int64
		if k == Touchpoint {
			tp, err := dec.Touchpoint(v)
			if err != nil {
				return err
			}
			ms = tp.TimeMs
		} else {
			cv, err := dec.Conversion(v)
			if err != nil {
				return err
			}
			ms = cv.TimeMs
		}
		stamps = append(stamps, ms)
		return nil
	}, func() error { flushes++; return nil })
	elapsed := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("emitted %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].kind != want[i].kind || got[i].key != want[i].key {
			t.Fatalf("event %d: %v %q, want %v %q", i, got[i].kind, got[i].key, want[i].kind, want[i].key)
		}
	}
	if least := time.Duration(float64(len(want)-1) / rate * float64(time.Second)); elapsed < least {
		t.Errorf("emitted %d events in %s: faster than %.0f/s", len(want), elapsed, rate)
	}
	if flushes < 2 {
		t.Errorf("flushed %d times, want one per tick", flushes)
	}
	lo, hi := began.UnixMilli(), began.Add(elapsed).UnixMilli()
	for i, ms := range stamps {
		if ms < lo || ms > hi {
			t.Fatalf("event %d stamped %d, outside the emission [%d, %d]", i, ms, lo, hi)
		}
		if i > 0 && ms < stamps[i-1] {
			t.Fatalf("event %d stamped %d, before event %d (%d)", i, ms, i-1, stamps[i-1])
		}
	}
}

func TestEmitLiveStops(t *testing.T) {
	tr, err := New(Config{Seed: 4, Events: 3000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = tr.EmitLive(ctx, 10_000, func(Kind, string, []byte) error {
		if n++; n == 100 {
			cancel()
		}
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) || n >= tr.Len() {
		t.Errorf("cancelled after 100 events: err %v after %d of %d events", err, n, tr.Len())
	}
	boom := errors.New("boom")
	if err := tr.EmitLive(context.Background(), 10_000, func(Kind, string, []byte) error { return boom }, nil); !errors.Is(err, boom) {
		t.Errorf("a sink error: got %v", err)
	}
	if err := tr.EmitLive(context.Background(), 0, func(Kind, string, []byte) error { return nil }, nil); err == nil {
		t.Errorf("rate 0: no error")
	}
}
