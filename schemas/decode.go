package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	sjson "github.com/segmentio/encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits that make an event unusable. They catch units mistakes (seconds sent
// as milliseconds land in 1970) and garbage before it reaches the models.
const (
	// MinTimeMs is 2000-01-01T00:00:00Z; earlier event times are rejected.
	MinTimeMs int64 = 946684800000
	// MaxTimeMs is 2100-01-01T00:00:00Z; later event times are rejected.
	MaxTimeMs int64 = 4102444800000
	// MaxRevenue is the largest revenue or cost accepted, in currency units.
	MaxRevenue = 1e12
	// MaxIDLength bounds event ids, user ids and other identifiers in bytes.
	MaxIDLength = 512
	// MaxTextLength bounds channel, source, medium, campaign and currency.
	MaxTextLength = 1024
)

// wireTouchpoint is a touchpoint as it travels. Conversion fields are not
// part of it: like any unknown field, they are ignored. Timestamp stays raw
// because it may be a string or an integer. (The identity fields are repeated
// in wireConversion rather than embedded, because encoding/json would name a
// field of an embedded struct "wireIdentity.event_id" in its errors.)
type wireTouchpoint struct {
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

// wireConversion is a conversion as it travels. Touchpoint fields are not
// part of it: like any unknown field, they are ignored.
type wireConversion struct {
	EventID        string          `json:"event_id"`
	UserID         string          `json:"user_id"`
	AnonymousID    string          `json:"anonymous_id"`
	Timestamp      json.RawMessage `json:"timestamp"`
	ConversionType string          `json:"conversion_type"`
	Revenue        float64         `json:"revenue"`
	Currency       string          `json:"currency"`
}

// Decoder turns JSON bytes into validated events. The zero value is not
// usable: create one with NewDecoder. A Decoder is safe for concurrent use.
type Decoder struct {
	channels *ChannelRules
}

// NewDecoder returns a decoder that derives missing channels with rules
// (DefaultChannelRules when rules is nil).
func NewDecoder(rules *ChannelRules) *Decoder {
	if rules == nil {
		rules = DefaultChannelRules()
	}
	return &Decoder{channels: rules}
}

// Touchpoint decodes and validates one touchpoint. A returned error is a
// *FieldError naming the field at fault.
func (d *Decoder) Touchpoint(b []byte) (Touchpoint, error) {
	var w wireTouchpoint
	if err := unmarshal(b, &w); err != nil {
		return Touchpoint{}, err
	}
	var tp Touchpoint
	var err error
	if tp.EventID, tp.UserID, tp.AnonymousID, tp.TimeMs, err = identity(w.EventID, w.UserID, w.AnonymousID, w.Timestamp); err != nil {
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

// Conversion decodes and validates one conversion. A returned error is a
// *FieldError naming the field at fault.
func (d *Decoder) Conversion(b []byte) (Conversion, error) {
	var w wireConversion
	if err := unmarshal(b, &w); err != nil {
		return Conversion{}, err
	}
	var cv Conversion
	var err error
	if cv.EventID, cv.UserID, cv.AnonymousID, cv.TimeMs, err = identity(w.EventID, w.UserID, w.AnonymousID, w.Timestamp); err != nil {
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

// ToMicros converts an amount in currency units to millionths, rounding half
// away from zero.
func ToMicros(v float64) int64 { return int64(math.Round(v * 1e6)) }

func unmarshal(b []byte, w any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fieldErr("json", "empty message")
	}
	if b[0] != '{' {
		return fieldErr("json", "not a JSON object")
	}
	if err := sjson.Unmarshal(b, w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			kind := jsonKind(te.Type.Kind().String())
			if v := numericValue(te.Value); kind == "number" && v != "" {
				return fieldErr(te.Field, "number out of range: %s", clip(strings.TrimRight(v, "}] \t\r\n,")))
			}
			return fieldErr(te.Field, "must be a %s, got %s", kind, te.Value)
		}
		return fieldErr("json", "invalid: %v", err)
	}
	return nil
}

// numericValue returns the number of a type error whose value is a JSON
// number that did not fit its field (encoding/json words it "number 1e400",
// segmentio/encoding quotes the raw bytes), or "" for any other value.
func numericValue(v string) string {
	v = strings.Trim(strings.TrimPrefix(v, "number "), `"`)
	if v != "" && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return v
	}
	return ""
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "float64", "int64":
		return "number"
	case "slice":
		return "string or integer"
	}
	return goKind
}

func identity(rawEventID, rawUserID, rawAnonID string, rawTimestamp json.RawMessage) (eventID, userID, anonID string, timeMs int64, err error) {
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
	timeMs, err = parseTimestamp(rawTimestamp)
	if err != nil {
		return "", "", "", 0, err
	}
	return rawEventID, userID, anonID, timeMs, nil
}

// parseTimestamp accepts an RFC 3339 string (optional fraction; the offset,
// Z or ±hh:mm, is required by RFC 3339) or an integer of epoch milliseconds.
func parseTimestamp(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, fieldErr("timestamp", "required")
	}
	var ms int64
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
			return 0, fieldErr("timestamp", "not RFC 3339: %q", clip(s))
		}
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
				return 0, fieldErr("timestamp", "out of range [2000-01-01, 2100-01-01): %s ms", clip(n.String()))
			}
			v = int64(f)
		}
		ms = v
	}
	if ms < MinTimeMs || ms >= MaxTimeMs {
		return 0, fieldErr("timestamp", "out of range [2000-01-01, 2100-01-01): %d ms", ms)
	}
	return ms, nil
}

func checkMoney(field string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fieldErr(field, "must be finite")
	case v < 0:
		return fieldErr(field, "must not be negative, got %v", v)
	case v > MaxRevenue:
		return fieldErr(field, "too large: %v > %v", v, MaxRevenue)
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "longer than %d bytes (%d)", max, len(s))
	}
	return nil
}

// clip shortens a value quoted in an error so that a 10 MB field never ends
// up in a log line or a Kafka header. It cuts at a rune boundary so that the
// message stays valid UTF-8.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	n := 64
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
