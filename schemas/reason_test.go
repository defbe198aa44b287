package schemas_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/attributor/attributor/schemas"
)

// Rejection reasons are read by people (in the run's log and in the
// dead-letter headers): each says what the input was and what is expected,
// once, and quotes input bytes safely.
func TestRejectionReasonsReadWell(t *testing.T) {
	d := schemas.NewDecoder(nil)
	const id = `"event_id":"e1","user_id":"u1"`
	for _, tc := range []struct {
		name, in string
		want     string // the whole error text
	}{
		{"cut short", `{` + id + `,"timestamp":17105`,
			"json: invalid: unexpected end of JSON input after object field value: the message ends (at 49 bytes) after `...\"user_id\":\"u1\",\"timestamp\":17105`, before its JSON object is complete"},
		{"RFC 3339 before 2000", `{` + id + `,"timestamp":"1999-12-31T23:00:00Z"}`,
			`timestamp: out of range: "1999-12-31T23:00:00Z" is before 2000-01-01T00:00:00Z; accepted: from 2000-01-01T00:00:00Z up to, not including, 2100-01-01T00:00:00Z`},
		{"seconds for milliseconds", `{` + id + `,"timestamp":1710513000}`,
			`timestamp: out of range: 1710513000 epoch milliseconds = 1970-01-20T19:08:33.000Z is before 2000-01-01T00:00:00Z (epoch seconds? timestamps are epoch milliseconds); accepted: from 2000-01-01T00:00:00Z up to, not including, 2100-01-01T00:00:00Z`},
		{"microseconds", `{` + id + `,"timestamp":1710513000000000}`,
			`timestamp: out of range: 1710513000000000 epoch milliseconds is at or after 2100-01-01T00:00:00Z (epoch microseconds? timestamps are epoch milliseconds); accepted: from 2000-01-01T00:00:00Z up to, not including, 2100-01-01T00:00:00Z`},
		{"not a time", `{` + id + `,"timestamp":"yesterday"}`,
			`timestamp: not RFC 3339: "yesterday"; expected a time such as "2024-03-15T14:30:00Z" or integer epoch milliseconds`},
		{"bad byte", `{` + id + `,"timestamp":1710513000000,` + "\x1b]0;owned\x07}",
			`json: invalid: expected '"' at the beginning of a string value at "\x1b]0;owned\a}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Touchpoint([]byte(tc.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
			if strings.Count(err.Error(), "json:") > 1 || strings.Contains(err.Error(), "invalid: json") {
				t.Errorf("repeated prefix in %q", err)
			}
		})
	}
}

// No control character or invalid UTF-8 of the input reaches an error text,
// whatever the input.
func TestRejectionReasonsQuoteInputSafely(t *testing.T) {
	d := schemas.NewDecoder(nil)
	nasty := "\x1b[2J\x1b]0;title\x07\r\nforged\xff\xfe\u202e"
	for _, in := range []string{
		nasty,
		`{` + nasty,
		`{"event_id":"e1",` + nasty,
		`{"event_id":"e1","user_id":"u1","timestamp":"` + nasty + `"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"interaction":"` + nasty + `"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":1710513000000,"cost":"` + nasty + `"}`,
		`{"event_id":"e1","user_id":"u1","timestamp":1710513000000}` + nasty,
	} {
		for _, decode := range []func([]byte) error{
			func(b []byte) error { _, err := d.Touchpoint(b); return err },
			func(b []byte) error { _, err := d.Conversion(b); return err },
			func(b []byte) error { _, err := d.AdSpend(b); return err },
		} {
			err := decode([]byte(in))
			if err == nil {
				t.Fatalf("%q accepted", in)
			}
			if s := err.Error(); !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\u202e' }) {
				t.Errorf("input %q: error %q holds raw input bytes", in, s)
			}
		}
	}
}

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain: `json` \"ok\" é": "plain: `json` \"ok\" é",
		"a\x1bb\nc\xffd\u202ee":  `a\x1bb\nc\xffd\u202ee`,
	} {
		if got := schemas.SafeText(in); got != want {
			t.Errorf("SafeText(%q) = %q, want %q", in, got, want)
		}
	}
}
