package schemas_test

import (
	"math"
	"strings"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// The edge cases of JSON that producers do send, or that a parser gets
// wrong: how keys match, repeated keys, null, escapes, invalid UTF-8,
// number forms, white space and what may follow the object. The expected
// values are what the decoder has always done (segmentio/encoding/json's
// rules); TestDecodeMatchesReference checks every input here, and more,
// against the reference decoder too, errors word for word.

// tp wraps fields in a touchpoint object that is valid without them.
func tp(fields string) string { return `{` + okIdentity + fields + `}` }

func TestDecodeEdgeCases(t *testing.T) {
	d := schemas.NewDecoder(nil)
	base := schemas.Touchpoint{EventID: "e1", UserID: "u1", TimeMs: ts0, Interaction: "click", Channel: "direct"}
	with := func(f func(*schemas.Touchpoint)) schemas.Touchpoint { v := base; f(&v); return v }
	cases := []struct {
		name string
		in   string
		want schemas.Touchpoint
	}{
		{"keys match case-insensitively", `{"EVENT_ID":"e1","User_Id":"u1","TimeStamp":1710513000000}`, base},
		{"long s folds to s in a non-ASCII key", tp(`,"ſource":"x","medium":"cpc"`),
			with(func(v *schemas.Touchpoint) { v.Source, v.Medium, v.Channel = "x", "cpc", "paid_social" })},
		{"an accent makes another key", tp(`,"sourcé":"x"`), base},
		{"escaped key", tp(`,"\u0073ource":"x","medium":"cpc"`),
			with(func(v *schemas.Touchpoint) { v.Source, v.Medium, v.Channel = "x", "cpc", "paid_social" })},
		{"key with a NUL is another key", tp(`,"source\u0000":"x"`), base},
		{"repeated key: the last wins", `{"event_id":"a","event_id":"e1","user_id":"u1","timestamp":1710513000000}`, base},
		{"repeated key: null keeps the string", `{"event_id":"e1","event_id":null,"user_id":"u1","timestamp":1710513000000}`, base},
		{"repeated key: another case", `{"event_id":"a","Event_ID":"e1","user_id":"u1","timestamp":1710513000000}`, base},
		{"repeated key: null keeps the number", tp(`,"cost":2.5,"cost":null`), with(func(v *schemas.Touchpoint) { v.Cost = 2.5 })},
		{"repeated key: empty interaction is click again", tp(`,"interaction":"impression","interaction":""`), base},
		{"repeated key: the timestamp too", `{"event_id":"e1","user_id":"u1","timestamp":1,"timestamp":"2024-03-15T14:30:00Z"}`, base},
		{"escapes", tp(`,"campaign":"\"\\\/\b\f\n\r\t\u0000\u00e9\u20ac"`),
			with(func(v *schemas.Touchpoint) { v.Campaign = "\"\\/\b\f\n\r\t\x00é€" })},
		{"surrogate pair", tp(`,"campaign":"a\ud83d\ude00b"`), with(func(v *schemas.Touchpoint) { v.Campaign = "a😀b" })},
		{"lone surrogates become U+FFFD", tp(`,"campaign":"\ud800x\udc00\ud800\ud800c\udbff"`),
			with(func(v *schemas.Touchpoint) { v.Campaign = "\ufffdx\ufffd\ufffd\ufffdc\ufffd" })},
		{"invalid UTF-8 becomes U+FFFD per byte", tp(",\"campaign\":\"a\xffb\xed\xa0\x80\xc3\""),
			with(func(v *schemas.Touchpoint) { v.Campaign = "a\ufffdb\ufffd\ufffd\ufffd\ufffd" })},
		{"invalid UTF-8 in an escaped string", tp(",\"campaign\":\"\xff\\n\""), with(func(v *schemas.Touchpoint) { v.Campaign = "\ufffd\n" })},
		{"DEL and valid UTF-8 as they are", tp(",\"campaign\":\"\x7fé€😀\""), with(func(v *schemas.Touchpoint) { v.Campaign = "\x7fé€😀" })},
		{"null strings", tp(`,"anonymous_id":null,"source":null,"interaction":null`), base},
		{"cost in exponent form", tp(`,"cost":1E2`), with(func(v *schemas.Touchpoint) { v.Cost = 100 })},
		{"cost with a negative exponent", tp(`,"cost":25e-4`), with(func(v *schemas.Touchpoint) { v.Cost = 0.0025 })},
		{"cost that underflows is 0", tp(`,"cost":1e-400`), base},
		{"cost -0 is 0", tp(`,"cost":-0.0`), base},
		{"cost with 17 digits", tp(`,"cost":0.12345678901234567`), with(func(v *schemas.Touchpoint) { v.Cost = 0.12345678901234567 })},
		{"white space everywhere", " \t\r\n{ \"event_id\" : \"e1\" ,\n\"user_id\"\t:\"u1\", \"timestamp\" : 1710513000000 \r}\n ", base},
		{"Unicode spaces around the object", "\u00a0\u2003{" + okIdentity + "}\u0085", base},
		{"nested unknown values", tp(`,"x":{"a":[1,-2.5e3,{"b":null,"c":[[],{}]}],"d":"\u00e9\"","e":true,"f":false}`), base},
		{"deeply nested unknown value", tp(`,"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000)), base},
		{"unknown key with escapes", tp(`,"\ud83d\ude00\n":1`), base},
		{"timestamp with an escape", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00\u005a"}`, base},
		// time.Parse takes more than RFC 3339; so does the decoder.
		{"timestamp with a one-digit hour", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T4:30:00Z"}`, with(func(v *schemas.Touchpoint) { v.TimeMs = ts0 - 10*3600_000 })},
		{"timestamp with a comma before the fraction", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00,5Z"}`, with(func(v *schemas.Touchpoint) { v.TimeMs = ts0 + 500 })},
		{"timestamp offset of 24 hours", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-16T14:30:00+24:00"}`, base},
		{"timestamp fraction beyond nanoseconds", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00.1239999999999Z"}`, with(func(v *schemas.Touchpoint) { v.TimeMs = ts0 + 123 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Touchpoint([]byte(tc.in))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want || math.Signbit(got.Cost) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeEdgeCasesInvalid(t *testing.T) {
	d := schemas.NewDecoder(nil)
	cases := []invalidCase{
		{"garbage after the object", tp(``) + ` x`, "json", "after top-level value"},
		{"NUL after the object", tp(``) + "\x00", "json", "after top-level value"},
		{"a second object", tp(``) + tp(``), "json", "after top-level value"},
		{"a type error, then garbage", tp(`,"cost":"1"`) + `]`, "json", "after top-level value"},
		{"a type error, then a syntax error", tp(`,"source":1,"x":[1,]`), "json", "trailing comma"},
		{"a type error in a key of another case", tp(`,"SOURCE":1`), "SOURCE", "must be a string"},
		{"a type error in an escaped key", tp(`,"sourc\u0065":1`), "source", "must be a string"},
		{"the first type error counts", tp(`,"source":1,"cost":"1"`), "source", "must be a string"},
		{"a type error before a range error", tp(`,"campaign":"` + strings.Repeat("c", 2000) + `","medium":5`), "medium", "must be a string"},
		{"null timestamp after a good one", tp(`,"timestamp":null`), "timestamp", "required"},
		{"null as a key", `{null:1}`, "json", "object key string from 'null'"},
		{"number as a key", `{1:1}`, "json", `expected '"'`},
		{"trailing comma", tp(`,`), "json", "invalid"},
		{"trailing comma in an unknown array", tp(`,"x":[1,]`), "json", "trailing comma"},
		{"leading zero", tp(`,"x":01`), "json", "expected ','"},
		{"nullx", tp(`,"cost":nullx`), "json", "expected ','"},
		{"unknown value truncated", tp(`,"x":tru`), "json", "expected 'true'"},
		{"control character in a string", tp(",\"x\":\"a\x01\""), "json", "in string escape code"},
		{"bad escape", tp(`,"x":"\x"`), "json", "in string escape code"},
		{"short \\u escape", tp(`,"x":"\u12"`), "json", "invalid unicode code point"},
		{"bad \\u escape", tp(`,"x":"\uzz12"`), "json", "parsing unicode code point"},
		{"unterminated string", `{"event_id":"e1`, "json", "missing '\"' at the end"},
		{"unterminated key", `{"event_`, "json", "unexpected end"},
		{"lone brace", `{`, "json", "unexpected end"},
		{"unbalanced nesting", tp(`,"x":[{]}`), "json", "invalid"},
		{"cost beyond float64 after valid JSON", tp(`,"cost":-1e400`), "cost", "number out of range"},
		{"cost beyond float64 before a syntax error", tp(`,"cost":1e400,"x":}`), "json", "invalid"},
		{"boolean cost", tp(`,"cost":true`), "cost", "must be a number"},
		{"array interaction", tp(`,"interaction":["click"]`), "interaction", "must be a string"},
		{"timestamp in exponent form out of range", `{"event_id":"e1","user_id":"u1","timestamp":1e3}`, "timestamp", "out of range"},
		{"timestamp -0", `{"event_id":"e1","user_id":"u1","timestamp":-0}`, "timestamp", "out of range"},
		{"timestamp beyond int64", `{"event_id":"e1","user_id":"u1","timestamp":-99999999999999999999}`, "timestamp", "out of range"},
		{"timestamp with invalid UTF-8", "{\"event_id\":\"e1\",\"user_id\":\"u1\",\"timestamp\":\"2024-03-15T14:30:00\xff\"}", "timestamp", `\xff`},
		{"timestamp with a lower-case z", `{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00z"}`, "timestamp", "not RFC 3339"},
		{"timestamp with a leap second", `{"event_id":"e1","user_id":"u1","timestamp":"2016-12-31T23:59:60Z"}`, "timestamp", "not RFC 3339"},
		{"timestamp on 29 February of a common year", `{"event_id":"e1","user_id":"u1","timestamp":"2100-02-29T00:00:00Z"}`, "timestamp", "not RFC 3339"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Touchpoint([]byte(tc.in))
			checkFieldError(t, err, tc.field, tc.reason)
		})
	}
}

func TestDecodeConversionEdgeCases(t *testing.T) {
	d := schemas.NewDecoder(nil)
	base := schemas.Conversion{EventID: "e1", UserID: "u1", TimeMs: ts0, ConversionType: "conversion"}
	for _, tc := range []struct {
		name string
		in   string
		want int64 // revenue in micros
	}{
		{"revenue in exponent form", tp(`,"revenue":2.4999E2`), 249_990_000},
		{"revenue rounds half away from zero", tp(`,"revenue":0.0000005`), 1},
		{"revenue -0", tp(`,"revenue":-0`), 0},
		{"revenue null after a value", tp(`,"revenue":5,"REVENUE":null`), 5_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Conversion([]byte(tc.in))
			want := base
			want.RevenueMicros = tc.want
			if err != nil || got != want {
				t.Fatalf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// TestDecodeMatchesReference checks hand-picked inputs against the
// reference decoder, as the fuzz targets do for the inputs they make: the
// edge cases above, each also as a conversion, and variations of them.
func TestDecodeMatchesReference(t *testing.T) {
	d := schemas.NewDecoder(nil)
	inputs := []string{
		``, ` `, `{`, `}`, `{}`, `[]`, `null`, `"x"`, `1`, `{ }`, `{"":1}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`,
		tp(``), tp(`,"revenue":"x","currency":7,"conversion_type":[]`), tp(`,"interaction":5,"cost":"free","channel":{}`),
		tp(`,"conversion_type":"purchase","revenue":249.99,"currency":"EUR"`),
		tp(`,"conversion_type":null,"currency":null,"revenue":null`),
		tp(`,"CURRENCY":1`), tp(`,"Revenue":"1"`), tp(`,"revenue":1e400`), tp(`,"revenue":-1`), tp(`,"revenue":1e13`),
		tp(`,"currency":"` + strings.Repeat("€", 400) + `"`),
		tp(`,"conversion_type":"` + strings.Repeat("t", 1025) + `"`),
		tp(`,"campaign":"` + strings.Repeat("c", 1025) + `"`),
		`{"event_id":"` + strings.Repeat("\\u00e9", 257) + `","user_id":"u1","timestamp":1710513000000}`,
		`{"event_id":"` + strings.Repeat("\xff", 200) + `","user_id":"u1","timestamp":1710513000000}`,
		`{"event_id":"e1","user_id":"","anonymous_id":"` + strings.Repeat("a", 513) + `","timestamp":1710513000000}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"` + strings.Repeat("9", 100) + `"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":` + strings.Repeat("9", 100) + `}`,
		`{"event_id":"e1","user_id":"u1","timestamp":1.5}`,
		`{"event_id":"e1","user_id":"u1","timestamp":[1}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00\u00"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"\u0032024-03-15T14:30:00Z"}`,
		"{\"event_id\":\"e1\",\"user_id\":\"u1\",\"timestamp\":\"2024-03-15T14:30:00\xff\\n\"}",
		`{"event_id":"a","user_id":"u1","timestamp":1710513000000,"event_id":42`,
		`{"event_id":42,"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz":1}`,
		`{"ab`, `{"ab\"`, `{"ab\`, `{"a":"b\`, `{"\u12":1}`, `{"\uzzzz":1}`, `{"a":"\u12`, `{"a` + "\x01" + `"}`, `{"a` + "\x01",
		`{"a":[`, `{"a":{`, `{"a":[1`, `{"a":{"b"`, `{"a":{"b":`, `{"a":{"b":1`, `{"a":{"b":1,`, `{"a":[1,`, `{"a":-`, `{"a":1.`, `{"a":1.e`, `{"a":1e+`, `{"a":1e+x}`, `{"a":.5}`, `{"a":+1}`, `{"a":n}`, `{"a":nul}`, `{"a":falsey}`,
		`{"cost":1.}`, `{"cost":-}`, `{"cost":1e}`, `{"cost":1ex}`, `{"source":"a`, `{"source":"a\`, `{"source":"\q"}`, `{"source":"\u00"}`,
		`{"timestamp":"a`, `{"timestamp":`, `{"timestamp"`, `{"timestamp" `, `{"timestamp":1 `, `{"timestamp":1,`,
	}
	inputs = append(inputs, edgeInputs()...)
	for _, in := range inputs {
		for _, v := range []string{in, " " + in + "\n", strings.ToUpper(in)} {
			sameTouchpoint(t, d, []byte(v))
			sameConversion(t, d, []byte(v))
			sameIdentity(t, d, []byte(v))
		}
	}
}

// edgeInputs returns the inputs of the edge-case tables above.
func edgeInputs() []string {
	return []string{
		`{"EVENT_ID":"e1","User_Id":"u1","TimeStamp":1710513000000}`, tp(`,"ſource":"x","medium":"cpc"`), tp(`,"sourcé":"x"`),
		tp(`,"\u0073ource":"x","medium":"cpc"`), tp(`,"source\u0000":"x"`), tp(`,"SOURCE":1`), tp(`,"sourc\u0065":1`),
		tp(`,"\u017fOURCE":"x"`), tp(`,"uſer_id":"x"`), tp(`,"ſ` + "\xff" + `ource":"x"`), tp(`,"K":1,"\u212a":2`),
		`{"event_id":"a","event_id":"e1","user_id":"u1","timestamp":1710513000000}`,
		`{"event_id":"e1","event_id":null,"user_id":"u1","timestamp":1710513000000}`,
		tp(`,"cost":2.5,"cost":null`), tp(`,"interaction":"impression","interaction":""`), tp(`,"timestamp":null`),
		tp(`,"campaign":"\"\\\/\b\f\n\r\t\u0000\u00e9\u20ac"`), tp(`,"campaign":"a\ud83d\ude00b"`),
		tp(`,"campaign":"\ud800x\udc00\ud800\ud800c\udbff"`), tp(",\"campaign\":\"a\xffb\xed\xa0\x80\xc3\""),
		tp(",\"campaign\":\"\xff\\n\""), tp(",\"campaign\":\"\x7fé€😀\""),
		tp(`,"cost":1E2`), tp(`,"cost":25e-4`), tp(`,"cost":1e-400`), tp(`,"cost":-0.0`), tp(`,"cost":0.12345678901234567`),
		tp(`,"cost":123456789012345.6`), tp(`,"cost":0.000000000000001`), tp(`,"cost":9007199254740993`),
		" \t\r\n{ \"event_id\" : \"e1\" ,\n\"user_id\"\t:\"u1\", \"timestamp\" : 1710513000000 \r}\n ",
		"\u00a0\u2003{" + okIdentity + "}\u0085", "\v{" + okIdentity + "}\f",
		tp(`,"x":{"a":[1,-2.5e3,{"b":null,"c":[[],{}]}],"d":"\u00e9\"","e":true,"f":false}`),
		tp(`,"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000)), tp(`,"x":` + strings.Repeat("[", 1000)),
		tp(`,"\ud83d\ude00\n":1`), tp(``) + ` x`, tp(``) + "\x00", tp(``) + tp(``), tp(`,"cost":"1"`) + `]`,
		tp(`,"source":1,"x":[1,]`), tp(`,"source":1,"cost":"1"`), tp(`,"campaign":"` + strings.Repeat("c", 2000) + `","medium":5`),
		`{null:1}`, `{1:1}`, tp(`,`), tp(`,"x":[1,]`), tp(`,"x":01`), tp(`,"cost":nullx`), tp(`,"x":tru`),
		tp(",\"x\":\"a\x01\""), tp(`,"x":"\x"`), tp(`,"x":"\u12"`), tp(`,"x":"\uzz12"`), tp(`,"x":"\u1zz2"`), tp(`,"x":[{]}`),
		tp(`,"cost":-1e400`), tp(`,"cost":1e400,"x":}`), tp(`,"cost":true`), tp(`,"interaction":["click"]`),
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00\u005a"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T4:30:00Z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00,5Z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-16T14:30:00+24:00"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00.1239999999999Z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2016-12-31T23:59:60Z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2100-02-29T00:00:00Z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"2000-02-29T00:00:00-23:59"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":"0000-01-01T00:00:00Z"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":1e3}`, `{"event_id":"e1","user_id":"u1","timestamp":-0}`,
		`{"event_id":"e1","user_id":"u1","timestamp":-99999999999999999999}`,
		`{"event_id":"e1","user_id":"u1","timestamp":1710513000000.000}`,
		"{\"event_id\":\"e1\",\"user_id\":\"u1\",\"timestamp\":\"2024-03-15T14:30:00\xff\"}",
		tp(`,"revenue":2.4999E2`), tp(`,"revenue":0.0000005`), tp(`,"revenue":-0`), tp(`,"revenue":5,"REVENUE":null`),
	}
}
