package schemas

// The reference decoder: Decoder.Touchpoint and Decoder.Conversion as they
// were before the hand-written scanner (commit ae97c46), unmarshalling with
// segmentio/encoding/json into wire structs (through unmarshal, which
// AdSpend still uses). It is kept, unchanged but for its names, only so
// that the fuzz and table tests can check that the scanner gives the same
// events and the same errors for every input. Do not fix it: a deliberate
// difference belongs in the scanner and in a test that names it.

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"

	sjson "github.com/segmentio/encoding/json"
)

// refWireTouchpoint is a touchpoint as it travels. Conversion fields are not
// part of it: like any unknown field, they are ignored. Timestamp stays raw
// because it may be a string or an integer. (The identity fields are repeated
// in refWireConversion rather than embedded, because encoding/json would name a
// field of an embedded struct "wireIdentity.event_id" in its errors.)
type refWireTouchpoint struct {
	EventID     string          `json:"event_id"`
	UserID      string          `json:"user_id"`
	AnonymousID string          `json:"anonymous_id"`
	Timestamp   json.RawMessage `json:"timestamp"`
	Interaction string          `json:"interaction"`
	Channel     string          `json:"channel"`
	Source      string          `json:"source"`
	Medium      string          `json:"medium"`
	Campaign    string          `json:"campaign"`
	Cost        float64         `json:"cost"`
}

// refWireConversion is a conversion as it travels. Touchpoint fields are not
// part of it: like any unknown field, they are ignored.
type refWireConversion struct {
	EventID        string          `json:"event_id"`
	UserID         string          `json:"user_id"`
	AnonymousID    string          `json:"anonymous_id"`
	Timestamp      json.RawMessage `json:"timestamp"`
	ConversionType string          `json:"conversion_type"`
	Revenue        float64         `json:"revenue"`
	Currency       string          `json:"currency"`
}

// ReferenceTouchpoint decodes and validates one touchpoint. A returned error is a
// *FieldError naming the field at fault.
func (d *Decoder) ReferenceTouchpoint(b []byte) (Touchpoint, error) {
	var w refWireTouchpoint
	if err := unmarshal(b, &w); err != nil {
		return Touchpoint{}, err
	}
	var tp Touchpoint
	var err error
	if tp.EventID, tp.UserID, tp.AnonymousID, tp.TimeMs, err = refIdentity(w.EventID, w.UserID, w.AnonymousID, w.Timestamp); err != nil {
		return Touchpoint{}, err
	}
	// Absent, null and "" mean the default, click. Values are case-sensitive,
	// as in the JSON Schema's enum.
	tp.Interaction = InteractionClick
	{
		switch w.Interaction {
		case InteractionClick, "":
		case InteractionImpression:
			tp.Interaction = InteractionImpression
		default:
			return Touchpoint{}, fieldErr("interaction", "must be %q or %q, got %q", InteractionClick, InteractionImpression, clip(w.Interaction))
		}
	}
	for _, f := range [...]struct {
		name string
		src  string
		dst  *string
	}{{"channel", w.Channel, &tp.Channel}, {"source", w.Source, &tp.Source}, {"medium", w.Medium, &tp.Medium}, {"campaign", w.Campaign, &tp.Campaign}} {
		if err := checkText(f.name, f.src, MaxTextLength); err != nil {
			return Touchpoint{}, err
		}
		*f.dst = f.src
	}
	if w.Cost != 0 {
		if err := checkMoney("cost", w.Cost); err != nil {
			return Touchpoint{}, err
		}
		tp.Cost = w.Cost
	}
	if tp.Channel == "" {
		tp.Channel = d.channels.Channel(tp.Source, tp.Medium)
	}
	return tp, nil
}

// ReferenceConversion decodes and validates one conversion. A returned error is a
// *FieldError naming the field at fault.
func (d *Decoder) ReferenceConversion(b []byte) (Conversion, error) {
	var w refWireConversion
	if err := unmarshal(b, &w); err != nil {
		return Conversion{}, err
	}
	var cv Conversion
	var err error
	if cv.EventID, cv.UserID, cv.AnonymousID, cv.TimeMs, err = refIdentity(w.EventID, w.UserID, w.AnonymousID, w.Timestamp); err != nil {
		return Conversion{}, err
	}
	cv.ConversionType = DefaultConversionType
	if w.ConversionType != "" {
		if err := checkText("conversion_type", w.ConversionType, MaxTextLength); err != nil {
			return Conversion{}, err
		}
		cv.ConversionType = w.ConversionType
	}
	if w.Revenue != 0 {
		if err := checkMoney("revenue", w.Revenue); err != nil {
			return Conversion{}, err
		}
		cv.RevenueMicros = ToMicros(w.Revenue)
	}
	if w.Currency != "" {
		if err := checkText("currency", w.Currency, MaxTextLength); err != nil {
			return Conversion{}, err
		}
		cv.Currency = w.Currency
	}
	return cv, nil
}

func refIdentity(rawEventID, rawUserID, rawAnonID string, rawTimestamp json.RawMessage) (eventID, userID, anonID string, timeMs int64, err error) {
	if rawEventID == "" {
		return "", "", "", 0, fieldErr("event_id", "required")
	}
	if err := checkText("event_id", rawEventID, MaxIDLength); err != nil {
		return "", "", "", 0, err
	}
	if err := checkText("user_id", rawUserID, MaxIDLength); err != nil {
		return "", "", "", 0, err
	}
	userID = rawUserID
	if err := checkText("anonymous_id", rawAnonID, MaxIDLength); err != nil {
		return "", "", "", 0, err
	}
	anonID = rawAnonID
	if userID == "" && anonID == "" {
		return "", "", "", 0, fieldErr("user_id", "user_id or anonymous_id is required")
	}
	timeMs, err = refParseTimestamp(rawTimestamp)
	if err != nil {
		return "", "", "", 0, err
	}
	return rawEventID, userID, anonID, timeMs, nil
}

// parseTimestamp accepts an RFC 3339 string (optional fraction; the offset,
// Z or ±hh:mm, is required by RFC 3339) or an integer of epoch milliseconds.
func refParseTimestamp(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, fieldErr("timestamp", "required")
	}
	var ms int64
	input := clip(string(raw)) // as the error quotes it
	switch raw[0] {
	case '"':
		var s string
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
			s = string(raw[1 : len(raw)-1]) // the common case: no escapes to undo
		} else if err := sjson.Unmarshal(raw, &s); err != nil {
			return 0, fieldErr("timestamp", "invalid string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, notRFC3339(s)
		}
		input = strconv.Quote(clip(s))
		// The range is checked on the instant below, not on the year as
		// written: 1999-12-31T23:00:00-02:00 is in 2000 UTC. RFC 3339 years
		// have four digits, so UnixMilli cannot overflow.
		ms = t.UnixMilli()
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, fieldErr("timestamp", "must be an RFC 3339 string or integer epoch milliseconds")
		}
		v, err := n.Int64()
		if err != nil {
			// An integer written with a fraction or an exponent
			// (1.7105e12) is still an integer, as JSON Schema counts
			// them. Within the accepted range float64 is exact.
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return 0, fieldErr("timestamp", "must be an RFC 3339 string or integer epoch milliseconds, got %s", clip(n.String()))
			}
			if f < float64(MinTimeMs) || f >= float64(MaxTimeMs) {
				return 0, timestampRange(clip(n.String()), 0, false)
			}
			v = int64(f)
		}
		ms = v
	}
	if ms < MinTimeMs || ms >= MaxTimeMs {
		// The wording is the live decoder's (timestampRange): the
		// reference checks what is decoded, not how errors are phrased.
		return 0, timestampRange(input, ms, true)
	}
	return ms, nil
}

// refWireIdentity is an identity event as it travels.
type refWireIdentity struct {
	EventID     string          `json:"event_id"`
	UserID      string          `json:"user_id"`
	AnonymousID string          `json:"anonymous_id"`
	Timestamp   json.RawMessage `json:"timestamp"`
}

// ReferenceIdentity decodes and validates one identity event with
// segmentio/encoding/json, for the differential tests of Decoder.Identity
// (which was written with the scanner: this reference is the scanner's
// contract restated, not an older decoder).
func (d *Decoder) ReferenceIdentity(b []byte) (Identity, error) {
	var w refWireIdentity
	if err := unmarshal(b, &w); err != nil {
		return Identity{}, err
	}
	switch {
	case w.EventID == "":
		return Identity{}, fieldErr("event_id", "required")
	case w.UserID == "":
		return Identity{}, fieldErr("user_id", "required: an identity event links anonymous_id to user_id")
	case w.AnonymousID == "":
		return Identity{}, fieldErr("anonymous_id", "required: an identity event links anonymous_id to user_id")
	}
	var id Identity
	var err error
	if id.EventID, id.UserID, id.AnonymousID, id.TimeMs, err = refIdentity(w.EventID, w.UserID, w.AnonymousID, w.Timestamp); err != nil {
		return Identity{}, err
	}
	return id, nil
}
