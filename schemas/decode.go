package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	sjson "github.com/segmentio/encoding/json"
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

// Decoder turns JSON bytes into validated events. The zero value is not
// usable: create one with NewDecoder. A Decoder is safe for concurrent use.
type Decoder struct {
	channels *ChannelRules

	// OneBlock makes Touchpoint and Conversion copy all of an event's
	// strings (ids and texts) into one allocation, of which each string is
	// a view: one allocation per event instead of three. The live stream
	// sets it, since its events are short-lived (applied to a shard's
	// compact state, written, dropped). The cost is retention: a string
	// kept long after its event keeps the whole block alive, so whoever
	// keeps one must keep a copy (strings.Clone); see "One block per
	// event" in docs/DESIGN.md for where the pipeline does. Set it before
	// the decoder's first use. Default: false (each id has its own
	// allocation, the texts one more).
	OneBlock bool
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
//
// The channel, source, medium and campaign of one touchpoint share one
// allocation (they are held together, as a tuple, by whoever keeps them);
// each id has its own, so that a map keyed by user_id holds no more than
// the id. With OneBlock, all of them share one.
func (d *Decoder) Touchpoint(b []byte) (Touchpoint, error) {
	var e event
	if err := e.scan(b, touchpointSchema); err != nil {
		return Touchpoint{}, endOfInput(err, b)
	}
	var tp Touchpoint
	ids, err := identity(&e)
	if err != nil {
		return Touchpoint{}, err
	}
	// Absent, null and "" mean the default, click. Values are case-sensitive,
	// as in the JSON Schema's enum.
	tp.Interaction = InteractionClick
	switch in := e.text(tpInteraction); string(in) {
	case InteractionClick, "":
	case InteractionImpression:
		tp.Interaction = InteractionImpression
	default:
		return Touchpoint{}, fieldErr("interaction", "must be %q or %q, got %q", InteractionClick, InteractionImpression, clip(string(in)))
	}
	dims := [4][]byte{e.text(tpChannel), e.text(tpSource), e.text(tpMedium), e.text(tpCampaign)}
	for i, v := range dims {
		if len(v) > MaxTextLength {
			return Touchpoint{}, checkLen(touchpointSchema.names[tpChannel+i], len(v), MaxTextLength)
		}
	}
	if cost := e.slots[tpCost].num; cost != 0 {
		if err := checkMoney("cost", cost); err != nil {
			return Touchpoint{}, err
		}
		tp.Cost = cost
	}
	if d.OneBlock {
		var s [7]string
		oneBlock(s[:], ids.eventID, ids.userID, ids.anonID, dims[0], dims[1], dims[2], dims[3])
		tp.EventID, tp.UserID, tp.AnonymousID, tp.TimeMs = s[0], s[1], s[2], ids.timeMs
		tp.Channel, tp.Source, tp.Medium, tp.Campaign = s[3], s[4], s[5], s[6]
	} else {
		tp.EventID, tp.UserID, tp.AnonymousID, tp.TimeMs = ids.values()
		var s [4]string
		oneBlock(s[:], dims[:]...)
		tp.Channel, tp.Source, tp.Medium, tp.Campaign = s[0], s[1], s[2], s[3]
	}
	if tp.Channel == "" {
		tp.Channel = d.channels.Channel(tp.Source, tp.Medium)
	}
	return tp, nil
}

// Conversion decodes and validates one conversion. A returned error is a
// *FieldError naming the field at fault. Its conversion_type and currency
// share one allocation; each id has its own. With OneBlock, all of them
// share one.
func (d *Decoder) Conversion(b []byte) (Conversion, error) {
	var e event
	if err := e.scan(b, conversionSchema); err != nil {
		return Conversion{}, endOfInput(err, b)
	}
	var cv Conversion
	ids, err := identity(&e)
	if err != nil {
		return Conversion{}, err
	}
	ctype := e.text(cvConversionType)
	if err := checkLen("conversion_type", len(ctype), MaxTextLength); err != nil {
		return Conversion{}, err
	}
	if revenue := e.slots[cvRevenue].num; revenue != 0 {
		if err := checkMoney("revenue", revenue); err != nil {
			return Conversion{}, err
		}
		cv.RevenueMicros = ToMicros(revenue)
	}
	currency := e.text(cvCurrency)
	if err := checkLen("currency", len(currency), MaxTextLength); err != nil {
		return Conversion{}, err
	}
	if d.OneBlock {
		var s [5]string
		oneBlock(s[:], ids.eventID, ids.userID, ids.anonID, ctype, currency)
		cv.EventID, cv.UserID, cv.AnonymousID, cv.TimeMs = s[0], s[1], s[2], ids.timeMs
		cv.ConversionType, cv.Currency = s[3], s[4]
	} else {
		cv.EventID, cv.UserID, cv.AnonymousID, cv.TimeMs = ids.values()
		var s [2]string
		oneBlock(s[:], ctype, currency)
		cv.ConversionType, cv.Currency = s[0], s[1]
	}
	if cv.ConversionType == "" {
		cv.ConversionType = DefaultConversionType
	}
	return cv, nil
}

// ToMicros converts an amount in currency units to millionths, rounding half
// away from zero.
func ToMicros(v float64) int64 { return int64(math.Round(v * 1e6)) }

// Indexes of the known fields of a touchpoint, in touchpointSchema.
const (
	tpEventID = iota
	tpUserID
	tpAnonymousID
	tpTimestamp
	tpInteraction
	tpChannel // then source, medium and campaign, in this order
	tpSource
	tpMedium
	tpCampaign
	tpCost
	tpFieldCount
)

// The identity fields come first, at the same indexes, in both schemas.
var touchpointSchema = newSchema(
	[]string{
		tpEventID: "event_id", tpUserID: "user_id", tpAnonymousID: "anonymous_id", tpTimestamp: "timestamp",
		tpInteraction: "interaction", tpChannel: "channel", tpSource: "source", tpMedium: "medium",
		tpCampaign: "campaign", tpCost: "cost",
	},
	[]fieldKind{
		tpEventID: stringField, tpUserID: stringField, tpAnonymousID: stringField, tpTimestamp: rawField,
		tpInteraction: stringField, tpChannel: stringField, tpSource: stringField, tpMedium: stringField,
		tpCampaign: stringField, tpCost: numberField,
	},
)

// Indexes of the known fields of a conversion, in conversionSchema.
const (
	cvEventID = iota
	cvUserID
	cvAnonymousID
	cvTimestamp
	cvConversionType
	cvRevenue
	cvCurrency
	cvFieldCount
)

var conversionSchema = newSchema(
	[]string{
		cvEventID: "event_id", cvUserID: "user_id", cvAnonymousID: "anonymous_id", cvTimestamp: "timestamp",
		cvConversionType: "conversion_type", cvRevenue: "revenue", cvCurrency: "currency",
	},
	[]fieldKind{
		cvEventID: stringField, cvUserID: stringField, cvAnonymousID: stringField, cvTimestamp: rawField,
		cvConversionType: stringField, cvRevenue: numberField, cvCurrency: stringField,
	},
)

// Both schemas fit in an event, and identity finds the fields every event
// has at the same indexes in both (a negative constant does not convert to
// uint: a mismatch does not compile).
const (
	_ = uint(maxFields - tpFieldCount)
	_ = uint(maxFields - cvFieldCount)
	_ = uint(tpEventID-cvEventID) + uint(cvEventID-tpEventID)
	_ = uint(tpUserID-cvUserID) + uint(cvUserID-tpUserID)
	_ = uint(tpAnonymousID-cvAnonymousID) + uint(cvAnonymousID-tpAnonymousID)
	_ = uint(tpTimestamp-cvTimestamp) + uint(cvTimestamp-tpTimestamp)
)

// ids are the validated identity of an event, still as bytes.
type ids struct {
	eventID, userID, anonID []byte
	timeMs                  int64
}

func (v *ids) values() (eventID, userID, anonID string, timeMs int64) {
	return string(v.eventID), string(v.userID), string(v.anonID), v.timeMs
}

// identity validates the fields every event has; their indexes are the
// same in both schemas.
func identity(e *event) (ids, error) {
	var v ids
	if v.eventID = e.text(tpEventID); len(v.eventID) == 0 {
		return ids{}, fieldErr("event_id", "required")
	}
	if err := checkLen("event_id", len(v.eventID), MaxIDLength); err != nil {
		return ids{}, err
	}
	v.userID = e.text(tpUserID)
	if err := checkLen("user_id", len(v.userID), MaxIDLength); err != nil {
		return ids{}, err
	}
	v.anonID = e.text(tpAnonymousID)
	if err := checkLen("anonymous_id", len(v.anonID), MaxIDLength); err != nil {
		return ids{}, err
	}
	if len(v.userID) == 0 && len(v.anonID) == 0 {
		return ids{}, fieldErr("user_id", "user_id or anonymous_id is required")
	}
	var err error
	if v.timeMs, err = parseTimestamp(e.raw(tpTimestamp)); err != nil {
		return ids{}, err
	}
	return v, nil
}

// smallInt returns the integer s (a JSON number) when it has no fraction,
// no exponent and at most 18 digits, so that it cannot overflow.
func smallInt(s []byte) (int64, bool) {
	digits := s
	if s[0] == '-' {
		digits = s[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if s[0] == '-' {
		v = -v
	}
	return v, true
}

// oneBlock sets out[i] to the string of parts[i], copying all the parts
// into one new allocation of which the strings are views (all of an
// event's with Decoder.OneBlock, else a touchpoint's texts, or a
// conversion's).
// An empty part is "", which points at nothing, so that it keeps nothing
// alive.
func oneBlock(out []string, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		clear(out)
		return
	}
	block := make([]byte, 0, n)
	for _, p := range parts {
		block = append(block, p...)
	}
	// block is never written again: its bytes are immutable, as a
	// string's must be.
	all := unsafe.String(&block[0], n)
	off := 0
	for i, p := range parts {
		if len(p) == 0 {
			out[i] = ""
			continue
		}
		out[i] = all[off : off+len(p)]
		off += len(p)
	}
}

// parseTimestamp accepts an RFC 3339 string (optional fraction; the offset,
// Z or ±hh:mm, is required by RFC 3339) or an integer of epoch milliseconds.
// raw is the JSON value as written, nil when absent.
func parseTimestamp(raw []byte) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, fieldErr("timestamp", "required")
	}
	var ms int64
	switch c := raw[0]; {
	case c == '"':
		s := raw[1 : len(raw)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			// Only an escaped string is unquoted, and so has its
			// invalid UTF-8 replaced (which only an error shows).
			s = unquote(nil, s)
		}
		var ok bool
		if ms, ok = rfc3339Millis(s); !ok {
			// time.Parse accepts more than the strict form (one-digit
			// hours, a comma before the fraction, offsets up to 99:99);
			// events that use it keep being accepted.
			t, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				return 0, notRFC3339(string(s))
			}
			// The range is checked on the instant below, not on the year as
			// written: 1999-12-31T23:00:00-02:00 is in 2000 UTC. RFC 3339 years
			// have four digits, so UnixMilli cannot overflow.
			ms = t.UnixMilli()
		}
	case c == '-' || ('0' <= c && c <= '9'):
		v, ok := smallInt(raw)
		if !ok {
			n := string(raw)
			var err error
			v, err = strconv.ParseInt(n, 10, 64)
			if err != nil {
				// An integer written with a fraction or an exponent
				// (1.7105e12) is still an integer, as JSON Schema counts
				// them. Within the accepted range float64 is exact.
				f, ferr := strconv.ParseFloat(n, 64)
				if ferr != nil || f != math.Trunc(f) {
					return 0, fieldErr("timestamp", "must be an RFC 3339 string or integer epoch milliseconds, got %s", clip(n))
				}
				if f < float64(MinTimeMs) || f >= float64(MaxTimeMs) {
					return 0, timestampRange(clip(n), 0, false)
				}
				v = int64(f)
			}
		}
		ms = v
	default: // true, false, an object or an array
		return 0, fieldErr("timestamp", "must be an RFC 3339 string or integer epoch milliseconds")
	}
	if ms < MinTimeMs || ms >= MaxTimeMs {
		return 0, timestampRange(timestampInput(raw), ms, true)
	}
	return ms, nil
}

// timestampInput is a timestamp as an error quotes it: a string quoted
// (its escapes undone), a number as written.
func timestampInput(raw []byte) string {
	if raw[0] != '"' {
		return clip(string(raw))
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		s = unquote(nil, s)
	}
	return strconv.Quote(clip(string(s)))
}

// unmarshal decodes an event into a wire struct with segmentio/encoding/json
// (AdSpend does; touchpoints and conversions have their own scanner).
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
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return endOfInput(reworded(se.Error(), b), b)
		}
		return fieldErr("json", "invalid: %s", SafeText(strings.TrimPrefix(err.Error(), "json: ")))
	}
	return nil
}

// reworded turns segmentio/encoding's syntax error, "json: MSG: PREFIX"
// (PREFIX being up to 32 bytes of b from the error on), into the scanner's
// wording of the same error.
func reworded(text string, b []byte) error {
	s := strings.TrimPrefix(text, "json: ")
	for k := strings.Index(s, ": "); k >= 0; {
		at := s[k+2:]
		core, cut := strings.CutSuffix(at, "...")
		if cut && len(core) == 32 && bytes.Contains(b, []byte(core)) || len(at) < 32 && bytes.HasSuffix(b, []byte(at)) {
			return syntaxError(s[:k], at)
		}
		next := strings.Index(s[k+2:], ": ")
		if next < 0 {
			break
		}
		k += 2 + next
	}
	return &FieldError{Field: "json", Reason: "invalid: " + SafeText(s)}
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

func checkText(field, s string, max int) error { return checkLen(field, len(s), max) }

func checkLen(field string, n, max int) error {
	if n > max {
		return fieldErr(field, "longer than %d bytes (%d)", max, n)
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
