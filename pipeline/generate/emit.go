package generate

import (
	"strconv"
	"time"
)

// Emit encodes every event, in stream order, and passes it to sink.
func (t *Traffic) Emit(sink Sink) error { return t.emit(0, sink) }

// EmitKind is Emit restricted to one kind of event, for a producer that
// writes one topic before the other.
func (t *Traffic) EmitKind(k Kind, sink Sink) error { return t.emit(k, sink) }

func (t *Traffic) emit(only Kind, sink Sink) error {
	buf := make([]byte, 0, 512)
	for i := range t.events {
		e := &t.events[i]
		if only != 0 && e.kind != only {
			continue
		}
		u := &t.users[e.user]
		buf = t.appendEvent(buf[:0], e, u)
		if err := sink(e.kind, u.key(e), buf); err != nil {
			return err
		}
	}
	return nil
}

// appendEvent encodes e as JSON. Every string it writes comes from the
// channel tables or is generated ASCII without characters to escape.
func (t *Traffic) appendEvent(b []byte, e *event, u *genUser) []byte {
	b = append(b, `{"event_id":"`...)
	b = appendUUID(b, e.id)
	b = append(b, '"')
	if e.kind == Identity {
		b = append(b, `,"anonymous_id":"`...)
		b = append(b, u.anonID...)
		b = append(b, `","user_id":"`...)
		b = append(b, u.userID...)
		b = append(b, `","timestamp":"`...)
		b = time.UnixMilli(e.timeMs).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		return append(b, `"}`...)
	}
	if u.userID != "" && e.flags&flagLoggedOut == 0 {
		b = append(b, `,"user_id":"`...)
		b = append(b, u.userID...)
		b = append(b, '"')
	}
	if e.flags&flagAnonID != 0 {
		b = append(b, `,"anonymous_id":"`...)
		b = append(b, u.anonID...)
		b = append(b, '"')
	}
	b = append(b, `,"timestamp":"`...)
	b = time.UnixMilli(e.timeMs).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	if e.kind == Conversion {
		if e.flags&flagSignup != 0 {
			return append(b, `,"conversion_type":"signup"}`...)
		}
		b = append(b, `,"conversion_type":"purchase","revenue":`...)
		b = appendAmount(b, e.amount)
		return append(b, `,"currency":"`+currency+`"}`...)
	}
	c := &channels[e.channel]
	p := &c.placements[e.place]
	if e.flags&flagImpression != 0 {
		b = append(b, `,"interaction":"impression"`...)
	} else {
		b = append(b, `,"interaction":"click"`...)
	}
	if e.flags&flagChannel != 0 {
		b = append(b, `,"channel":"`...)
		b = append(b, c.name...)
		b = append(b, '"')
	}
	b = append(b, `,"source":"`...)
	b = append(b, p.source...)
	b = append(b, `","medium":"`...)
	b = append(b, p.medium...)
	b = append(b, '"')
	if e.campaign > 0 {
		b = append(b, `,"campaign":"`...)
		b = append(b, p.campaigns[e.campaign-1]...)
		b = append(b, '"')
	}
	if e.amount > 0 {
		b = append(b, `,"cost":`...)
		b = appendAmount(b, e.amount)
	}
	return append(b, '}')
}

// appendAmount writes micros as a decimal without trailing zeros: 1.5, 0.0042, 87.
func appendAmount(b []byte, micros int64) []byte {
	b = strconv.AppendInt(b, micros/1e6, 10)
	frac := micros % 1e6
	if frac == 0 {
		return b
	}
	var d [7]byte
	d[0] = '.'
	for k := 6; k >= 1; k-- {
		d[k] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

func appendUUID(b []byte, id [16]byte) []byte {
	for k, x := range id {
		if k == 4 || k == 6 || k == 8 || k == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}
