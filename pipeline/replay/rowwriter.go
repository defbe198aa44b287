package replay

import (
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/attributor/attributor/schemas"
)

// Format is an encoding of credited rows.
type Format string

// Formats of RowWriter.
const (
	NDJSON Format = "ndjson" // one JSON object per line
	CSV    Format = "csv"    // RFC 4180, with a header line
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case NDJSON, CSV:
		return f, nil
	}
	return "", fmt.Errorf("format: must be %q or %q, got %q", NDJSON, CSV, s)
}

// Columns are the fields of a credited row, in output order: the JSON keys
// and the CSV header (schemas.CreditedColumns).
var Columns = func() []string {
	var out []string
	for _, c := range schemas.CreditedColumns {
		out = append(out, c.Output)
	}
	return out
}()

// flushAt is the buffered size at which RowWriter writes through.
const flushAt = 64 << 10

// RowWriter encodes credited rows as NDJSON or CSV into a buffer that it
// writes through in large blocks; call Flush at the end. The encoding is
// append-based, without reflection: credit is printed with the shortest
// representation that round-trips (strconv 'g', -1), revenue as an exact
// decimal with six places from the micros, timestamps as RFC 3339 UTC with
// milliseconds (empty for the unattributed row's touchpoint).
type RowWriter struct {
	w      io.Writer
	format Format
	buf    []byte
	err    error
}

// NewRowWriter returns a writer of rows in format f (NDJSON when empty).
// For CSV the header is written first, so that an empty output still has it.
func NewRowWriter(w io.Writer, f Format) *RowWriter {
	if f == "" {
		f = NDJSON
	}
	rw := &RowWriter{w: w, format: f, buf: make([]byte, 0, flushAt+4096)}
	if f == CSV {
		for i, c := range Columns {
			if i > 0 {
				rw.buf = append(rw.buf, ',')
			}
			rw.buf = append(rw.buf, c...)
		}
		rw.buf = append(rw.buf, '\n')
	}
	return rw
}

// WriteRow encodes one row. After a write error every call returns it.
func (w *RowWriter) WriteRow(r *schemas.CreditedRow) error {
	if w.err != nil {
		return w.err
	}
	if w.format == CSV {
		w.buf = AppendCSV(w.buf, r)
	} else {
		w.buf = AppendJSON(w.buf, r)
	}
	w.buf = append(w.buf, '\n')
	if len(w.buf) >= flushAt {
		return w.Flush()
	}
	return nil
}

// Flush writes the buffered rows through.
func (w *RowWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		_, w.err = w.w.Write(w.buf)
		w.buf = w.buf[:0]
	}
	return w.err
}

// AppendJSON appends r as one JSON object (without a newline).
func AppendJSON(b []byte, r *schemas.CreditedRow) []byte {
	b = append(b, `{"conversion_id":`...)
	b = appendJSONString(b, r.ConversionID)
	b = append(b, `,"conversion_type":`...)
	b = appendJSONString(b, r.ConversionType)
	b = append(b, `,"user_key":`...)
	b = appendJSONString(b, r.UserKey)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, r.Model)
	b = append(b, `,"touchpoint_id":`...)
	b = appendJSONString(b, r.TouchpointID)
	b = append(b, `,"channel":`...)
	b = appendJSONString(b, r.Channel)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, r.Source)
	b = append(b, `,"medium":`...)
	b = appendJSONString(b, r.Medium)
	b = append(b, `,"campaign":`...)
	b = appendJSONString(b, r.Campaign)
	b = append(b, `,"interaction":`...)
	b = appendJSONString(b, r.Interaction)
	b = append(b, `,"credit":`...)
	b = strconv.AppendFloat(b, r.Credit, 'g', -1, 64)
	b = append(b, `,"revenue":`...)
	b = AppendMicros(b, r.RevenueMicros)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, r.Currency)
	b = append(b, `,"touchpoint_timestamp":"`...)
	b = AppendTimeMs(b, r.TouchpointTimeMs)
	b = append(b, `","conversion_timestamp":"`...)
	b = AppendTimeMs(b, r.ConversionTimeMs)
	b = append(b, `","position":`...)
	b = strconv.AppendInt(b, int64(r.Position), 10)
	b = append(b, `,"path_length":`...)
	b = strconv.AppendInt(b, int64(r.PathLength), 10)
	b = append(b, `,"fit_id":`...)
	b = appendJSONString(b, r.FitID)
	return append(b, '}')
}

// AppendCSV appends r as one CSV record (without a newline), in Columns order.
func AppendCSV(b []byte, r *schemas.CreditedRow) []byte {
	for _, s := range [...]string{r.ConversionID, r.ConversionType, r.UserKey, r.Model, r.TouchpointID, r.Channel, r.Source, r.Medium, r.Campaign, r.Interaction} {
		b = appendCSVField(b, s)
		b = append(b, ',')
	}
	b = strconv.AppendFloat(b, r.Credit, 'g', -1, 64)
	b = append(b, ',')
	b = AppendMicros(b, r.RevenueMicros)
	b = append(b, ',')
	b = appendCSVField(b, r.Currency)
	b = append(b, ',')
	b = AppendTimeMs(b, r.TouchpointTimeMs)
	b = append(b, ',')
	b = AppendTimeMs(b, r.ConversionTimeMs)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Position), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.PathLength), 10)
	b = append(b, ',')
	return appendCSVField(b, r.FitID)
}

// AppendMicros appends millionths as an exact decimal with six places, like
// schemas.FormatMicros.
func AppendMicros(b []byte, m int64) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = uint64(-m) // also right for math.MinInt64
	}
	b = strconv.AppendUint(b, u/1e6, 10)
	frac := u % 1e6
	var d [7]byte
	d[0] = '.'
	for i := 6; i >= 1; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, d[:]...)
}

// AppendTimeMs appends epoch milliseconds like schemas.FormatTimeMs: RFC 3339
// UTC with milliseconds, nothing for 0. It computes the civil date directly
// (five times faster than time.Time.AppendFormat, which dominated the rows).
func AppendTimeMs(b []byte, ms int64) []byte {
	if ms == 0 {
		return b
	}
	days, rem := ms/86_400_000, ms%86_400_000
	if rem < 0 {
		days, rem = days-1, rem+86_400_000
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	sec := rem / 1000
	var t [24]byte
	put := func(i int, v int64, n int) {
		for k := i + n - 1; k >= i; k-- {
			t[k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	t[4] = '-'
	put(5, m, 2)
	t[7] = '-'
	put(8, d, 2)
	t[10] = 'T'
	put(11, sec/3600, 2)
	t[13] = ':'
	put(14, sec/60%60, 2)
	t[16] = ':'
	put(17, sec%60, 2)
	t[19] = '.'
	put(20, rem%1000, 3)
	t[23] = 'Z'
	return append(b, t[:]...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant's civil_from_days).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes that a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string, escaping like encoding/json
// except for HTML characters: quotes, backslashes, control characters,
// U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && jsonSafe[s[i]] {
		i++
	}
	if i == len(s) { // the usual case: nothing to escape
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendCSVField appends s, quoted (RFC 4180) when it holds a comma, a
// quote, a line break or leading space, as encoding/csv does.
func appendCSVField(b []byte, s string) []byte {
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` || s[0] == ' ' || s[0] == '\t' {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}
