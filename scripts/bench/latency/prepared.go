package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/schemas"
)

// prepared holds the generated events encoded before the clock starts, so
// that the run only stamps and sends them: encoding an event reads its
// user from a table of hundreds of thousands (cache misses, most of the
// producer's own CPU once the sends were cheap), and decoding the
// conversions for their ids is done once here too. The bytes are the
// generator's, with the timestamp overwritten at its place.
type prepared struct {
	kinds []generate.Kind
	keys  []string
	ends  []int    // value i is arena[ends[i-1]:ends[i]]
	stamp []uint16 // offset of the timestamp's 24 bytes in value i
	ids   []string // conversion i's event_id; "" for the other kinds
	arena []byte
}

const stampLayout = "2006-01-02T15:04:05.000Z" // what the generator writes, in UTC

func prepare(traffic *generate.Traffic) (*prepared, error) {
	n := traffic.Len()
	p := &prepared{kinds: make([]generate.Kind, 0, n), keys: make([]string, 0, n), ends: make([]int, 0, n),
		stamp: make([]uint16, 0, n), ids: make([]string, 0, n)}
	dec := schemas.NewDecoder(nil)
	field := []byte(`"timestamp":"`)
	err := traffic.Emit(func(k generate.Kind, key string, v []byte) error {
		i := bytes.Index(v, field)
		at := i + len(field)
		if i < 0 || at+len(stampLayout) >= len(v) || v[at+len(stampLayout)-1] != 'Z' || v[at+len(stampLayout)] != '"' || at > 1<<16-1 {
			return fmt.Errorf("generated event without a UTC millisecond timestamp: %s", v)
		}
		id := ""
		if k == generate.Conversion {
			cv, err := dec.Conversion(v)
			if err != nil {
				return fmt.Errorf("generated conversion: %w", err)
			}
			id = cv.EventID
		}
		p.arena = append(p.arena, v...)
		p.kinds, p.keys, p.ids = append(p.kinds, k), append(p.keys, key), append(p.ids, id)
		p.ends, p.stamp = append(p.ends, len(p.arena)), append(p.stamp, uint16(at))
		return nil
	})
	return p, err
}

// emitLive sends the prepared events at rate events per second, on the
// schedule of generate.EmitLive (every generate.LiveTick the events due,
// then flush), each stamped with the wall clock when it is sent; conv is
// called with every conversion's id and produce time.
func (p *prepared) emitLive(ctx context.Context, rate float64, sink generate.Sink, flush func() error, conv func(id string, ms int64)) error {
	if !(rate > 0) {
		return fmt.Errorf("rate: must be > 0, got %v", rate)
	}
	tick := time.NewTicker(generate.LiveTick)
	defer tick.Stop()
	var buf []byte
	stampMs := int64(-1)
	st := make([]byte, 0, 64)
	start := time.Now()
	next := 0
	for {
		due := min(len(p.kinds), int(time.Since(start).Seconds()*rate)+1)
		now := time.Now().UnixMilli()
		if now != stampMs {
			st = time.UnixMilli(now).UTC().AppendFormat(st[:0], stampLayout)
			if len(st) != len(stampLayout) {
				return fmt.Errorf("timestamp %q: not %d bytes", st, len(stampLayout))
			}
			stampMs = now
		}
		for ; next < due; next++ {
			from := 0
			if next > 0 {
				from = p.ends[next-1]
			}
			buf = append(buf[:0], p.arena[from:p.ends[next]]...)
			copy(buf[p.stamp[next]:], st)
			if p.kinds[next] == generate.Conversion {
				conv(p.ids[next], now)
			}
			if err := sink(p.kinds[next], p.keys[next], buf); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if next == len(p.kinds) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
