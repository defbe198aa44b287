package schemas_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/attributor/attributor/schemas"
)

// ts0 is 2024-03-15T14:30:00Z in epoch milliseconds.
const ts0 int64 = 1_710_513_000_000

func TestDecodeTouchpointValid(t *testing.T) {
	d := schemas.NewDecoder(nil)
	cases := []struct {
		name string
		in   string
		want schemas.Touchpoint
	}{
		{"minimal", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00Z"}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"anonymous only", `{"event_id":"e1","anonymous_id":"a1","timestamp":1710513000000}`,
			schemas.Touchpoint{EventID: "e1", AnonymousID: "a1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"empty user_id with anonymous_id", `{"event_id":"e1","user_id":"","anonymous_id":"a1","timestamp":1710513000000}`,
			schemas.Touchpoint{EventID: "e1", AnonymousID: "a1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"impression with utm fields", `{"event_id":"e1","user_id":"u1","anonymous_id":"a1","timestamp":1710513000000,"interaction":"impression","source":"dv360","medium":"display","campaign":"spring","cost":0.0042}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", AnonymousID: "a1", TimeMs: ts0, Interaction: "impression", Channel: "display", Source: "dv360", Medium: "display", Campaign: "spring", Cost: 0.0042}},
		{"explicit click", `{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"interaction":"click"}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"empty and null interaction default to click", `{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"interaction":""}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"null optional fields", `{"event_id":"e1","user_id":"u1","anonymous_id":null,"timestamp":1710513000000,"interaction":null,"channel":null,"source":null,"cost":null}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"channel given wins over source and medium", `{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"channel":"partners","source":"google","medium":"cpc"}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "partners", Source: "google", Medium: "cpc"}},
		{"empty channel is derived", `{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"channel":"","source":"google","medium":"cpc"}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "paid_search", Source: "google", Medium: "cpc"}},
		{"unknown fields ignored", `{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"page":{"url":"/x","tags":[1,2,null]},"v":2}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"conversion fields are unknown to a touchpoint", `{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"revenue":"n/a","currency":7,"conversion_type":[]}`,
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"surrounding whitespace", " \n\t{\"event_id\":\"e1\",\"user_id\":\"u1\",\"timestamp\":1710513000000}\r\n",
			schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
		{"ids at the length limit", `{"event_id":"` + strings.Repeat("e", schemas.MaxIDLength) + `","user_id":"u1","timestamp":1710513000000}`,
			schemas.Touchpoint{EventID: strings.Repeat("e", schemas.MaxIDLength), UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Touchpoint([]byte(tc.in))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeConversionValid(t *testing.T) {
	d := schemas.NewDecoder(nil)
	cases := []struct {
		name string
		in   string
		want schemas.Conversion
	}{
		{"minimal", `{"event_id":"c1","user_id":"u1","timestamp":"2024-03-15T14:30:00Z"}`,
			schemas.Conversion{EventID: "c1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion"}},
		{"purchase", `{"event_id":"c1","anonymous_id":"a1","timestamp":1710513000000,"conversion_type":"purchase","revenue":249.99,"currency":"EUR"}`,
			schemas.Conversion{EventID: "c1", AnonymousID: "a1", TimeMs: ts0, ConversionType: "purchase", RevenueMicros: 249_990_000, Currency: "EUR"}},
		{"revenue rounds to the nearest micro", `{"event_id":"c1","user_id":"u1","timestamp":1710513000000,"revenue":19.99}`,
			schemas.Conversion{EventID: "c1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion", RevenueMicros: 19_990_000}},
		{"revenue 0 and empty type", `{"event_id":"c1","user_id":"u1","timestamp":1710513000000,"revenue":0,"conversion_type":""}`,
			schemas.Conversion{EventID: "c1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion"}},
		{"revenue -0", `{"event_id":"c1","user_id":"u1","timestamp":1710513000000,"revenue":-0}`,
			schemas.Conversion{EventID: "c1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion"}},
		{"revenue at the limit", `{"event_id":"c1","user_id":"u1","timestamp":1710513000000,"revenue":1e12}`,
			schemas.Conversion{EventID: "c1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion", RevenueMicros: 1e18}},
		{"touchpoint fields are unknown to a conversion", `{"event_id":"c1","user_id":"u1","timestamp":1710513000000,"interaction":5,"cost":"free","channel":{}}`,
			schemas.Conversion{EventID: "c1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Conversion([]byte(tc.in))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// invalidCase is an event that must be rejected with a *FieldError naming
// field, whose reason contains reason.
type invalidCase struct {
	name, in, field, reason string
}

const okIdentity = `"event_id":"e1","user_id":"u1","timestamp":1710513000000`

// commonInvalid are rejected the same way as touchpoints and conversions.
var commonInvalid = []invalidCase{
	{"empty", ``, "json", "empty"},
	{"blank", " \n ", "json", "empty"},
	{"array", `[{"event_id":"e1"}]`, "json", "not a JSON object"},
	{"null", `null`, "json", "not a JSON object"},
	{"string", `"event"`, "json", "not a JSON object"},
	{"truncated", `{"event_id":"e1","user_id":"u1","timestamp":17105`, "json", "invalid"},
	{"trailing data", `{` + okIdentity + `} {}`, "json", "invalid"},
	{"NaN literal", `{` + okIdentity + `,"x":NaN}`, "json", "invalid"},
	{"binary", "{\x00\xff\xfe", "json", "invalid"},
	{"missing event_id", `{"user_id":"u1","timestamp":1710513000000}`, "event_id", "required"},
	{"empty event_id", `{"event_id":"","user_id":"u1","timestamp":1710513000000}`, "event_id", "required"},
	{"null event_id", `{"event_id":null,"user_id":"u1","timestamp":1710513000000}`, "event_id", "required"},
	{"numeric event_id", `{"event_id":42,"user_id":"u1","timestamp":1710513000000}`, "event_id", "must be a string"},
	{"long event_id", `{"event_id":"` + strings.Repeat("e", schemas.MaxIDLength+1) + `","user_id":"u1","timestamp":1710513000000}`, "event_id", "longer than 512"},
	{"no user key", `{"event_id":"e1","timestamp":1710513000000}`, "user_id", "user_id or anonymous_id is required"},
	{"empty user keys", `{"event_id":"e1","user_id":"","anonymous_id":"","timestamp":1710513000000}`, "user_id", "required"},
	{"user_id array", `{"event_id":"e1","user_id":["u1"],"timestamp":1710513000000}`, "user_id", "must be a string"},
	{"long anonymous_id", `{"event_id":"e1","anonymous_id":"` + strings.Repeat("a", schemas.MaxIDLength+1) + `","timestamp":1710513000000}`, "anonymous_id", "longer than"},
	{"missing timestamp", `{"event_id":"e1","user_id":"u1"}`, "timestamp", "required"},
	{"null timestamp", `{"event_id":"e1","user_id":"u1","timestamp":null}`, "timestamp", "required"},
	{"bool timestamp", `{"event_id":"e1","user_id":"u1","timestamp":true}`, "timestamp", "RFC 3339 string or integer"},
}

func TestDecodeTouchpointInvalid(t *testing.T) {
	cases := append([]invalidCase{
		{"interaction view", `{` + okIdentity + `,"interaction":"view"}`, "interaction", `must be "click" or "impression"`},
		{"interaction upper case", `{` + okIdentity + `,"interaction":"CLICK"}`, "interaction", `got "CLICK"`},
		{"interaction number", `{` + okIdentity + `,"interaction":1}`, "interaction", "must be a string"},
		{"channel number", `{` + okIdentity + `,"channel":3}`, "channel", "must be a string"},
		{"source object", `{` + okIdentity + `,"source":{"name":"google"}}`, "source", "must be a string"},
		{"long medium", `{` + okIdentity + `,"medium":"` + strings.Repeat("m", schemas.MaxTextLength+1) + `"}`, "medium", "longer than 1024"},
		{"long campaign", `{` + okIdentity + `,"campaign":"` + strings.Repeat("c", schemas.MaxTextLength+1) + `"}`, "campaign", "longer than"},
		{"negative cost", `{` + okIdentity + `,"cost":-0.01}`, "cost", "must not be negative"},
		{"string cost", `{` + okIdentity + `,"cost":"0.5"}`, "cost", "must be a number"},
		{"huge cost", `{` + okIdentity + `,"cost":1e13}`, "cost", "too large"},
		{"cost beyond float64", `{` + okIdentity + `,"cost":1e400}`, "cost", "out of range"},
	}, commonInvalid...)
	d := schemas.NewDecoder(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Touchpoint([]byte(tc.in))
			checkFieldError(t, err, tc.field, tc.reason)
		})
	}
}

func TestDecodeConversionInvalid(t *testing.T) {
	cases := append([]invalidCase{
		{"negative revenue", `{` + okIdentity + `,"revenue":-1}`, "revenue", "must not be negative"},
		{"string revenue", `{` + okIdentity + `,"revenue":"12.50"}`, "revenue", "must be a number"},
		{"revenue above the limit", `{` + okIdentity + `,"revenue":1000000000000.5}`, "revenue", "too large"},
		{"revenue beyond float64", `{` + okIdentity + `,"revenue":-1e999}`, "revenue", "out of range"},
		{"revenue Infinity literal", `{` + okIdentity + `,"revenue":Infinity}`, "json", "invalid"},
		{"currency number", `{` + okIdentity + `,"currency":978}`, "currency", "must be a string"},
		{"long conversion_type", `{` + okIdentity + `,"conversion_type":"` + strings.Repeat("t", schemas.MaxTextLength+1) + `"}`, "conversion_type", "longer than"},
	}, commonInvalid...)
	d := schemas.NewDecoder(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Conversion([]byte(tc.in))
			checkFieldError(t, err, tc.field, tc.reason)
		})
	}
}

func checkFieldError(t *testing.T, err error, field, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one on %s", field)
	}
	var fe *schemas.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *schemas.FieldError", err, err)
	}
	if fe.Field != field {
		t.Fatalf("error %q names field %q, want %q", err, fe.Field, field)
	}
	if !strings.Contains(fe.Reason, reason) {
		t.Fatalf("error %q does not say %q", err, reason)
	}
	if got, want := err.Error(), field+": "+fe.Reason; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestDecodeTimestamp(t *testing.T) {
	valid := []struct {
		in   string
		want int64
	}{
		{`"2024-03-15T14:30:00Z"`, ts0},
		{`"2024-03-15T14:30:00.123Z"`, ts0 + 123},
		{`"2024-03-15T14:30:00.1Z"`, ts0 + 100},
		{`"2024-03-15T14:30:00.123999999Z"`, ts0 + 123}, // truncated to the millisecond
		{`"2024-03-15T15:30:00+01:00"`, ts0},
		{`"2024-03-15T09:30:00.5-05:00"`, ts0 + 500},
		{`"2024-03-15T14:30:00+00:00"`, ts0},
		{`1710513000000`, ts0},
		{`1710513000000.0`, ts0}, // integers as JSON Schema counts them
		{`1.710513e12`, ts0},
		{`"2000-01-01T00:00:00Z"`, schemas.MinTimeMs},
		{`946684800000`, schemas.MinTimeMs},
		{`"1999-12-31T23:00:00-02:00"`, schemas.MinTimeMs + 3_600_000}, // 2000 in UTC
		{`"2099-12-31T23:59:59.999Z"`, schemas.MaxTimeMs - 1},
		{`4102444799999`, schemas.MaxTimeMs - 1},
		{`"2100-01-01T01:00:00+02:00"`, schemas.MaxTimeMs - 3_600_000}, // 2099 in UTC
	}
	d := schemas.NewDecoder(nil)
	for _, tc := range valid {
		tp, err := d.Touchpoint([]byte(`{"event_id":"e","user_id":"u","timestamp":` + tc.in + `}`))
		if err != nil {
			t.Errorf("timestamp %s: unexpected error %v", tc.in, err)
		} else if tp.TimeMs != tc.want {
			t.Errorf("timestamp %s = %d ms, want %d", tc.in, tp.TimeMs, tc.want)
		}
	}
	invalid := []struct{ in, reason string }{
		{`"1999-12-31T23:59:59.999Z"`, "out of range"},
		{`946684799999`, "out of range"},
		{`"2100-01-01T00:00:00Z"`, "out of range"},
		{`4102444800000`, "out of range"},
		{`1710513000`, "out of range"},       // seconds sent as milliseconds
		{`1710513000000000`, "out of range"}, // microseconds
		{`-1`, "out of range"},
		{`0`, "out of range"},
		{`"0001-01-01T00:00:00Z"`, "out of range"},
		{`"9999-12-31T23:59:59Z"`, "out of range"},
		{`99999999999999999999`, "out of range"},
		{`1710513000000.5`, "RFC 3339 string or integer"},
		{`1.7105130000001e12`, "RFC 3339 string or integer"},
		{`1e13`, "out of range"},
		{`1e999`, "RFC 3339 string or integer"},
		{`"1710513000000"`, "not RFC 3339"},
		{`"2024-03-15 14:30:00Z"`, "not RFC 3339"},
		{`"2024-03-15T14:30:00"`, "not RFC 3339"},
		{`"2024-03-15"`, "not RFC 3339"},
		{`"2024-02-30T00:00:00Z"`, "not RFC 3339"},
		{`"2024-03-15T24:00:00Z"`, "not RFC 3339"},
		{`""`, "not RFC 3339"},
		{`{}`, "RFC 3339 string or integer"},
		{`["2024-03-15T14:30:00Z"]`, "RFC 3339 string or integer"},
	}
	for _, tc := range invalid {
		_, err := d.Touchpoint([]byte(`{"event_id":"e","user_id":"u","timestamp":` + tc.in + `}`))
		t.Run(tc.in, func(t *testing.T) { checkFieldError(t, err, "timestamp", tc.reason) })
	}
}

// TestDecodeHugeField checks that a 10 MB value is rejected by the field at
// fault, and that the error quotes none of it.
func TestDecodeHugeField(t *testing.T) {
	huge := strings.Repeat("é", 5<<20) // 10 MB of two-byte runes
	d := schemas.NewDecoder(nil)
	for _, tc := range []struct{ field, in string }{
		{"event_id", `{"event_id":"` + huge + `","user_id":"u","timestamp":1710513000000}`},
		{"campaign", `{` + okIdentity + `,"campaign":"` + huge + `"}`},
		{"timestamp", `{"event_id":"e","user_id":"u","timestamp":"` + huge + `"}`},
	} {
		_, err := d.Touchpoint([]byte(tc.in))
		checkFieldError(t, err, tc.field, "")
		if len(err.Error()) > 200 || !utf8.ValidString(err.Error()) {
			t.Errorf("%s: error of %d bytes (valid UTF-8: %v), want a short one", tc.field, len(err.Error()), utf8.ValidString(err.Error()))
		}
	}
	_, err := d.Conversion([]byte(`{` + okIdentity + `,"currency":"` + huge + `"}`))
	checkFieldError(t, err, "currency", "longer than")
}

func TestKey(t *testing.T) {
	tp := schemas.Touchpoint{UserID: "u", AnonymousID: "a"}
	cv := schemas.Conversion{AnonymousID: "a"}
	if tp.Key() != "u" || cv.Key() != "a" {
		t.Fatalf("keys %q, %q; want user_id first, else anonymous_id", tp.Key(), cv.Key())
	}
}
