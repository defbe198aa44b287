package schemas

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError reports why an event is unusable. It names the offending field
// (or "json" when the bytes are not a JSON object), so that dead letters and
// replay diagnostics say exactly what to fix. A FieldError is permanent:
// retrying the same bytes can never succeed.
//
// Its text quotes input safely: an excerpt of the input is escaped as by
// strconv.Quote, so that no control character or invalid UTF-8 from an
// event reaches a terminal, a log line or a Kafka header.
type FieldError struct {
	Field  string
	Reason string
	atEnd  bool // a JSON syntax error at the end of the input; see endOfInput
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// QuoteInput quotes an excerpt of input for an error text: between
// backquotes when every rune is printable (JSON reads best so), else as
// strconv.Quote escapes it.
func QuoteInput(s string) string {
	for _, r := range s {
		if r == '`' || r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return "`" + s + "`"
}

// SafeText returns s with every control character, other non-printable
// rune and invalid UTF-8 byte escaped as strconv.Quote escapes it (\x1b,
// \u202e, \xff), and the rest unchanged: the form for a text that may hold
// input bytes on its way to a log line, a terminal or a header.
func SafeText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !strconv.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// syntaxErr is the error of invalid JSON: what is wrong (worded as
// segmentio/encoding words it), then where, as a quoted excerpt of up to 32
// bytes of the input from there.
func syntaxErr(b []byte, format string, args ...any) error {
	return syntaxError(fmt.Sprintf(format, args...), prefix(b))
}

func syntaxError(msg, at string) error {
	if at == "" {
		return &FieldError{Field: "json", Reason: "invalid: " + SafeText(msg), atEnd: true}
	}
	return &FieldError{Field: "json", Reason: "invalid: " + SafeText(msg) + " at " + QuoteInput(at)}
}

// endOfInput completes a syntax error found at the end of the input with the
// end of the input: "unexpected end of JSON input" alone does not say which
// message was cut where.
func endOfInput(err error, in []byte) error {
	fe, ok := err.(*FieldError)
	if !ok || !fe.atEnd {
		return err
	}
	in = bytes.TrimSpace(in)
	tail := string(in)
	if len(tail) > 32 {
		n := len(tail) - 32
		for n < len(tail) && !utf8.RuneStart(tail[n]) {
			n++
		}
		tail = "..." + tail[n:]
	}
	return &FieldError{Field: fe.Field, Reason: fmt.Sprintf("%s: the message ends (at %d bytes) after %s, before its JSON object is complete", fe.Reason, len(in), QuoteInput(tail))}
}

func prefix(b []byte) string {
	if len(b) < 32 {
		return string(b)
	}
	return string(b[:32]) + "..."
}

// The accepted range of event times, as an error says it.
const acceptedTimes = "accepted: from 2000-01-01T00:00:00Z up to, not including, 2100-01-01T00:00:00Z"

// timestampRange is the error of a timestamp outside [MinTimeMs, MaxTimeMs).
// input is the value as written: a quoted string or a number; ms is its
// instant when known (an integer, or a parsed string).
func timestampRange(input string, ms int64, known bool) error {
	if !known {
		return fieldErr("timestamp", "out of range: %s; %s", input, acceptedTimes)
	}
	side := "before 2000-01-01T00:00:00Z"
	if ms >= MaxTimeMs {
		side = "at or after 2100-01-01T00:00:00Z"
	}
	if input != "" && input[0] == '"' {
		return fieldErr("timestamp", "out of range: %s is %s; %s", input, side, acceptedTimes)
	}
	hint := ""
	switch {
	case ms >= MinTimeMs/1000 && ms < MaxTimeMs/1000:
		hint = " (epoch seconds? timestamps are epoch milliseconds)"
	case ms/1000 >= MinTimeMs && ms/1000 < MaxTimeMs:
		hint = " (epoch microseconds? timestamps are epoch milliseconds)"
	case ms/1000_000 >= MinTimeMs && ms/1000_000 < MaxTimeMs:
		hint = " (epoch nanoseconds? timestamps are epoch milliseconds)"
	}
	at := ""
	if ms > -62135596800000 && ms < 253402300800000 { // years 1 to 9999
		at = " = " + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return fieldErr("timestamp", "out of range: %s epoch milliseconds%s is %s%s; %s", input, at, side, hint, acceptedTimes)
}

// notRFC3339 is the error of a timestamp string that is not a time.
func notRFC3339(s string) error {
	return fieldErr("timestamp", "not RFC 3339: %s; expected a time such as \"2024-03-15T14:30:00Z\" or integer epoch milliseconds", strconv.Quote(clip(s)))
}
