package schemas

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
)

// The scanner below decodes the flat JSON objects that events are in one
// pass, without reflection, into slots that point into the input. It
// accepts exactly what segmentio/encoding/json (v0.5.4, which the decoder
// used before) accepts when it unmarshals into a struct of the same fields,
// and fails on the same inputs with the same error text; the fuzz targets
// compare the two on every input they try. What that means for the input:
//
//   - Keys match a field exactly, else case-insensitively as segmentio
//     folds them: an ASCII key by ASCII case, any other rune by rune
//     (appendToLower), so that "SOURCE" and "ſource", with a long s,
//     name source.
//   - A repeated key overwrites the earlier value, except that null leaves
//     a string or number field as it was.
//   - Strings are unescaped (\uXXXX pairs joined, a lone surrogate becomes
//     U+FFFD); each byte of invalid UTF-8 becomes U+FFFD.
//   - Unknown fields may hold any JSON value, nested to any depth (skipped
//     without recursion), but it must be valid JSON.
//   - A value of the wrong type is reported on its field only when the
//     whole input is otherwise valid JSON; any syntax error wins.

// fieldKind is how a known field is decoded.
type fieldKind uint8

const (
	stringField fieldKind = iota // a string; null keeps an earlier value
	numberField                  // a float64; null keeps an earlier value
	rawField                     // any JSON value, null included, as written
)

// objectSchema lists the known fields of one kind of event.
type objectSchema struct {
	names   []string
	kinds   [maxFields]fieldKind
	byFirst [256][]int8 // the fields whose names start with a byte
	keys    [maxFields]key
}

// maxFields bounds the known fields of a schema.
const maxFields = 10

// newSchema returns the schema of the fields names, of kinds kinds.
func newSchema(names []string, kinds []fieldKind) *objectSchema {
	s := &objectSchema{names: names}
	copy(s.kinds[:], kinds)
	for i, n := range names {
		s.byFirst[n[0]] = append(s.byFirst[n[0]], int8(i))
		var w [16]byte
		copy(w[:], n) // at most maxFieldName < 16 bytes
		k := &s.keys[i]
		k.len = len(n)
		for j := range 2 {
			k.word[j] = binary.LittleEndian.Uint64(w[8*j:])
			for c := range 8 {
				if 8*j+c < len(n) {
					k.mask[j] |= 0xff << (8 * c)
				}
			}
		}
	}
	return s
}

// match returns the field whose name the key at b[i] is, written plainly,
// and the index of the key's closing quote; or -1 when the key is not
// simply a name (lookupField still finds a key of another case, or with
// escapes).
func (s *objectSchema) match(b []byte, i int) (int, int) {
	if len(b)-i < 2+16 || b[i] != '"' {
		return s.matchShort(b, i)
	}
	// Compare 16 bytes at once with each name that starts alike, masked
	// to its length and followed by a quote.
	lo, hi := binary.LittleEndian.Uint64(b[i+1:]), binary.LittleEndian.Uint64(b[i+9:])
	for _, f := range s.byFirst[byte(lo)] {
		k := &s.keys[f]
		if lo&k.mask[0] == k.word[0] && hi&k.mask[1] == k.word[1] && b[i+1+k.len] == '"' {
			return int(f), i + 1 + k.len
		}
	}
	return -1, -1
}

// matchShort is match near the end of b.
func (s *objectSchema) matchShort(b []byte, i int) (int, int) {
	if i+1 >= len(b) || b[i] != '"' {
		return -1, -1
	}
	for _, f := range s.byFirst[b[i+1]] {
		n := s.names[f]
		if end := i + 1 + len(n); end < len(b) && b[end] == '"' && string(b[i+1:end]) == n {
			return int(f), end
		}
	}
	return -1, -1
}

// key is a field name as two little-endian words and their masks.
type key struct {
	word, mask [2]uint64
	len        int
}

// event is an event object as scan found it: the object's bytes, and
// where in them the value of each known field is.
type event struct {
	b     []byte // the object, without the white space around it
	slots [maxFields]slot
}

// slot is where the value of one known field is: b[start:end] is a string
// with its quotes, or a raw field's value; end is 0 when the field is
// absent (or, for a string or number field, only ever null).
type slot struct {
	start, end int
	esc        bool    // a string with a backslash or a non-ASCII byte: unquote it
	num        float64 // a number field's value
}

// raw returns the value of field f as written, or nil.
func (e *event) raw(f int) []byte {
	s := &e.slots[f]
	if s.end == 0 {
		return nil
	}
	return e.b[s.start:s.end]
}

// text returns the content of string field f: the input's bytes, or a new
// slice when they must be unquoted.
func (e *event) text(f int) []byte {
	s := &e.slots[f]
	if s.esc {
		return unquote(nil, e.b[s.start+1:s.end-1])
	}
	if s.end == 0 {
		return nil
	}
	return e.b[s.start+1 : s.end-1]
}

// scan decodes in, which must be one JSON object (surrounding white space
// aside), into e.
//
// It walks the object by index, taking keys that are field names and
// plain strings (printable ASCII, no escapes) inline; anything else, and
// every error, goes through the functions of scan_json.go, which follow
// segmentio's grammar and wording.
func (e *event) scan(in []byte, schema *objectSchema) error {
	b := in
	if len(b) == 0 || b[0] != '{' || b[len(b)-1] != '}' {
		b = bytes.TrimSpace(b) // which also trims Unicode spaces
	}
	if len(b) == 0 {
		return fieldErr("json", "empty message")
	}
	if b[0] != '{' {
		return fieldErr("json", "not a JSON object")
	}
	if len(b) < 2 {
		return syntaxErr(b, "unexpected end of JSON input")
	}
	e.b = b
	i := 1
	for k := 0; ; k++ {
		i = spaces(b, i)
		if i < len(b) && b[i] == '}' {
			return afterObject(b[i+1:])
		}
		if k != 0 {
			if i == len(b) {
				return syntaxErr(b[i:], "unexpected end of JSON input after object field value")
			}
			if b[i] != ',' {
				return syntaxErr(b[i:], "expected ',' after object field value but found '%c'", b[i])
			}
			i = spaces(b, i+1)
		}

		// The key: most often a field's name as it is.
		start := i + 1
		f, end := schema.match(b, i)
		esc := false
		if f < 0 {
			end = plainString(b, i)
		}
		if end < 0 {
			if hasPrefix(b[i:], "null") {
				return syntaxErr(b[i:], "cannot decode object key string from 'null' value")
			}
			n, kesc, r, err := scanString(b[i:])
			if err != nil {
				if len(r) == 0 {
					return syntaxErr(r, "unexpected end of JSON input")
				}
				return err
			}
			end, esc = i+n-1, kesc
		}
		if i = spaces(b, end+1); i == len(b) {
			return syntaxErr(b[i:], "unexpected end of JSON input after object field key")
		}
		if b[i] != ':' {
			return syntaxErr(b[i:], "expected ':' after object field key but found '%c'", b[i])
		}
		i = spaces(b, i+1)

		// The value.
		if f < 0 {
			f = lookupField(schema, b[start:end], esc)
		}
		if f < 0 {
			if end := plainString(b, i); end >= 0 {
				i = end + 1
				continue
			}
			r, err := skipValue(b[i:])
			if err != nil {
				return err
			}
			i = len(b) - len(r)
			continue
		}
		kind := schema.kinds[f]
		if kind != numberField {
			if end := plainString(b, i); end >= 0 {
				e.slots[f] = slot{start: i, end: end + 1}
				i = end + 1
				continue
			}
		}
		j, ok := e.decodeField(i, kind, f)
		if !ok {
			return fieldFailed(b, b[start:end], esc, kind, b[i:])
		}
		i = j
	}
}

// spaces returns the index of the first byte of b from i on that is not
// JSON white space, or len(b).
func spaces(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString returns the index of the closing quote of the string at
// b[i] when the string is plain: printable ASCII without escapes.
// Otherwise it returns -1, and scanString must look.
func plainString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	// plainRun, inlined by hand: most strings end in the first word.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	s := b[i+1:]
	for len(s) >= 8 {
		w := binary.LittleEndian.Uint64(s)
		q := w ^ (ones * '"')
		bs := w ^ (ones * '\\')
		if m := ((q-ones)&^q | (bs-ones)&^bs | (w - ones*0x20) | w) & highs; m != 0 {
			if j := len(b) - len(s) + bits.TrailingZeros64(m)/8; b[j] == '"' {
				return j
			}
			return -1
		}
		s = s[8:]
	}
	if j := plainRun(b, len(b)-len(s)); j < len(b) && b[j] == '"' {
		return j
	}
	return -1
}

// decodeField decodes the value at e.b[i] into slot f, of kind kind, and
// returns the index that follows it, or false when the value is not of the
// field's kind.
func (e *event) decodeField(i int, kind fieldKind, f int) (int, bool) {
	b := e.b[i:]
	switch kind {
	case stringField:
		if hasPrefix(b, "null") {
			return i + 4, true
		}
		n, esc, _, err := scanString(b)
		if err != nil {
			return i, false
		}
		e.slots[f] = slot{start: i, end: i + n, esc: esc}
		return i + n, true
	case numberField:
		if hasPrefix(b, "null") {
			return i + 4, true
		}
		n, err := scanNumber(b)
		if err != nil {
			return i, false
		}
		v, err := parseFloat(b[:n])
		if err != nil {
			return i, false // out of float64's range
		}
		e.slots[f] = slot{start: i, end: i + n, num: v}
		return i + n, true
	default:
		r, err := skipValue(b)
		if err != nil {
			return i, false
		}
		n := len(b) - len(r)
		e.slots[f] = slot{start: i, end: i + n}
		return i + n, true
	}
}

// fieldFailed returns the error of a value, at, that decodeField refused
// for the field named key: the first syntax error of the whole input if it
// has one, else the value's error.
func fieldFailed(input, key []byte, esc bool, kind fieldKind, at []byte) error {
	r, err := skipValue(input)
	if err != nil {
		return err
	}
	// The value's own error: a syntax error (none is left once the whole
	// object is valid) or the field's type error.
	if kind == stringField && len(at) != 0 && at[0] == '"' {
		if _, _, _, err := scanString(at); err != nil {
			return err
		}
	}
	if len(at) == 0 {
		return syntaxErr(at, "unexpected end of JSON input")
	}
	if _, err := skipValue(at); err != nil {
		return err
	}
	if err := afterObject(r); err != nil {
		return err
	}
	name := string(key)
	if esc {
		name = string(unquote(nil, key))
	}
	value := strconv.Quote(prefix(at))
	switch kind {
	case stringField:
		return fieldErr(name, "must be a string, got %s", value)
	case numberField:
		if v := numericValue(value); v != "" {
			return fieldErr(name, "number out of range: %s", clip(strings.TrimRight(v, "}] \t\r\n,")))
		}
		return fieldErr(name, "must be a number, got %s", value)
	}
	return fieldErr(name, "must be a string or integer, got %s", value) // unreachable: a raw field takes any value
}

// afterObject checks that nothing but JSON white space follows the object.
func afterObject(r []byte) error {
	if r = skipSpaces(r); len(r) != 0 {
		return syntaxErr(r, "invalid character '%c' after top-level value", r[0])
	}
	return nil
}

// numericValue returns the number of a type error's quoted value (as
// strconv.Quote gives it, which is how segmentio/encoding words it) that
// starts with a JSON number, or "".
func numericValue(v string) string {
	v = strings.Trim(v, `"`)
	if v != "" && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return v
	}
	return ""
}
