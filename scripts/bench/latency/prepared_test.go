package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/schemas"
)

type sent struct {
	kind  generate.Kind
	key   string
	value []byte
}

// The prepared events are what generate.EmitLive sends, byte for byte
// once the timestamps are set aside, in the same order with the same keys;
// every timestamp is the wall clock of its send, and the produce time noted
// for a conversion is its timestamp.
func TestPreparedEventsAreTheLiveGeneratorsOnes(t *testing.T) {
	traffic, err := generate.New(generate.Config{Seed: 7, Events: 3000})
	if err != nil {
		t.Fatal(err)
	}
	var want []sent
	collect := func(out *[]sent) generate.Sink {
		return func(k generate.Kind, key string, v []byte) error {
			*out = append(*out, sent{k, key, bytes.Clone(v)})
			return nil
		}
	}
	if err := traffic.EmitLive(context.Background(), 1e6, collect(&want), nil); err != nil {
		t.Fatal(err)
	}
	p, err := prepare(traffic)
	if err != nil {
		t.Fatal(err)
	}
	var got []sent
	convs := map[string]int64{}
	before := time.Now().UnixMilli()
	err = p.emitLive(context.Background(), 1e6, collect(&got), func() error { return nil }, func(id string, ms int64) { convs[id] = ms })
	after := time.Now().UnixMilli()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events sent, want %d", len(got), len(want))
	}
	dec := schemas.NewDecoder(nil)
	field := []byte(`"timestamp":"`)
	blank := func(v []byte) []byte {
		v = bytes.Clone(v)
		i := bytes.Index(v, field) + len(field)
		copy(v[i:], "XXXX-XX-XXTXX:XX:XX.XXXZ")
		return v
	}
	nconv := 0
	for i := range got {
		if got[i].kind != want[i].kind || got[i].key != want[i].key || !bytes.Equal(blank(got[i].value), blank(want[i].value)) {
			t.Fatalf("event %d: sent %v %q %s, want %v %q %s", i, got[i].kind, got[i].key, got[i].value, want[i].kind, want[i].key, want[i].value)
		}
		if got[i].kind != generate.Conversion {
			continue
		}
		cv, err := dec.Conversion(got[i].value)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if cv.TimeMs < before || cv.TimeMs > after {
			t.Fatalf("event %d stamped %d, not within the send [%d, %d]", i, cv.TimeMs, before, after)
		}
		if ms, ok := convs[cv.EventID]; !ok || ms > cv.TimeMs {
			t.Fatalf("conversion %s noted at %d (%v), stamped %d", cv.EventID, ms, ok, cv.TimeMs)
		}
		nconv++
	}
	if nconv == 0 {
		t.Fatal("no conversion sent")
	}
}
