package schemas

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner below decodes the flat JSON objects that events are in one
// pass, without reflection, into slots that point into the input. It
// accepts exactly what segmentio/encoding/json (v0.5.4, which the decoder
// used before) accepts when it unmarshals into a struct of the same fields,
// and fails on the same inputs with the same error text; the fuzz targets
// compare the two on every input they try. What that means for the input:
//
//   - Keys match a field exactly, else case-insensitively as segmentio
//     folds them (ASCII keys by ASCII case; others rune by rune, under
//     which "ſ" is an "s" but an "s" is not).
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
	if s.end == 0 {
		return nil
	}
	v := e.b[s.start+1 : s.end-1]
	if !s.esc {
		return v
	}
	return unquote(make([]byte, 0, len(v)), v)
}

// scan decodes in, which must be one JSON object (surrounding white space
// aside), into e.
//
// It walks the object by index, taking plain strings (printable ASCII, no
// escapes), numbers and null inline; anything else, and every error, goes
// through the general functions below, which word errors as segmentio
// does.
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
			n, e, r, err := scanString(b[i:])
			if err != nil {
				if len(r) == 0 {
					return syntaxErr(r, "unexpected end of JSON input")
				}
				return err
			}
			end, esc = i+n-1, e
		}
		if i = spaces(b, end+1); i == len(b) {
			return syntaxErr(b[i:], "unexpected end of JSON input after object field key")
		}
		if b[i] != ':' {
			return syntaxErr(b[i:], "expected ':' after object field key but found '%c'", b[i])
		}
		i = spaces(b, i+1)

		// The value.
		key := b[start:end]
		if f < 0 {
			f = lookupField(schema, key, esc)
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
		if kind == stringField {
			if end := plainString(b, i); end >= 0 {
				e.slots[f] = slot{start: i, end: end + 1}
				i = end + 1
				continue
			}
		}
		j, ok := e.decodeField(i, kind, f)
		if !ok {
			return fieldFailed(b, key, esc, kind, b[i:])
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

// maxFieldName is the length of the longest field name of any schema.
const maxFieldName = len("conversion_type")

// lookupField returns the index in schema of the field a key (as written,
// without its quotes) names, or -1, for a key that match did not find: one
// with escapes, or of another case.
func lookupField(schema *objectSchema, key []byte, esc bool) int {
	if !esc && !hasUpper(key) {
		return -1 // folds to itself, which is no name
	}
	return lookupFolded(schema, key, esc)
}

func hasUpper(s []byte) bool {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// lookupFolded unquotes key if it must, then looks for a field of that
// name, else of that name folded.
func lookupFolded(schema *objectSchema, key []byte, esc bool) int {
	var buf [2 * utf8.UTFMax * maxFieldName]byte
	if esc {
		if len(key) > 12*maxFieldName {
			return -1 // a rune takes at most 12 bytes escaped (a \u surrogate pair)
		}
		key = unquote(buf[:0], key)
		if f := schema.index(key); f >= 0 {
			return f
		}
	}
	if utf8.RuneCount(key) > maxFieldName {
		return -1 // folding maps one rune to one, so no name can match
	}
	return schema.index(appendToLower(buf[len(key):len(key)], key))
}

// index returns the index of the field named name, or -1.
func (s *objectSchema) index(name []byte) int {
	for i, n := range s.names {
		if string(name) == n {
			return i
		}
	}
	return -1
}

// appendToLower appends s folded as segmentio/encoding folds keys: ASCII
// letters to lower case if s is all ASCII, else each rune to the lower
// case of its next case-fold (so "ſ" and "S" become "s", and "s" "ſ").
func appendToLower(b, s []byte) []byte {
	ascii := true
	for _, c := range s {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for _, c := range s {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		return b
	}
	for _, r := range string(s) {
		if r = unicode.SimpleFold(r); 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

// scanString scans the string at the start of b and returns its length
// with the quotes, and whether it holds a backslash or a byte beyond
// ASCII. On error, r is what segmentio/encoding leaves of b after the
// failure (key errors depend on it).
func scanString(b []byte) (n int, esc bool, r []byte, err error) {
	if len(b) >= 2 && b[0] == '"' {
		// The common case: printable ASCII up to the closing quote.
		if i := plainRun(b, 1); i < len(b) && b[i] == '"' {
			return i + 1, false, nil, nil
		}
	}
	n, esc, r, err = scanStringBody(b)
	if err != nil && len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b[1:], '"') < 0 {
		// With no quote after the opening one, segmentio/encoding
		// reports that before looking at the content.
		return 0, false, b[len(b):], syntaxErr(b, "missing '\"' at the end of a string value")
	}
	return n, esc, r, err
}

func scanStringBody(b []byte) (n int, esc bool, r []byte, err error) {
	if len(b) < 2 {
		return 0, false, b[len(b):], syntaxErr(b, "unexpected end of JSON input")
	}
	if b[0] != '"' {
		return 0, false, b, syntaxErr(b, "expected '\"' at the beginning of a string value")
	}
	for i := 1; ; i++ {
		if i = plainRun(b, i); i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, nil, nil
		case c == '\\':
			esc = true
			if i++; i < len(b) {
				switch b[i] {
				case '"', '\\', '/', 'n', 'r', 't', 'f', 'b':
				case 'u':
					m, err := checkUnicode(b[i+1:])
					if err != nil {
						return 0, false, b[i+1+m:], err
					}
					i += m
				default:
					return 0, false, b, syntaxErr(b, "invalid character '%c' in string escape code", b[i])
				}
			}
		case c < 0x20:
			return 0, false, b, syntaxErr(b, "invalid character '%c' in string escape code", c)
		default: // beyond ASCII
			esc = true
		}
	}
	return 0, false, b[len(b):], syntaxErr(b, "missing '\"' at the end of a string value")
}

// plainRun returns the index, from i on, of the first byte of b that is a
// quote, a backslash, a control character or beyond ASCII, or len(b). It
// looks at 8 bytes at a time: in a word, the lowest byte flagged by the
// has-zero-byte and has-less-than tricks (borrows only run upwards) is the
// first such byte.
func plainRun(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if i >= len(b) {
		return i
	}
	s := b[i:]
	for len(s) >= 8 {
		w := binary.LittleEndian.Uint64(s)
		q := w ^ (ones * '"')
		bs := w ^ (ones * '\\')
		// (w - 0x20s) | w flags bytes below 0x20 and from 0x80 on.
		if m := ((q-ones)&^q | (bs-ones)&^bs | (w - ones*0x20) | w) & highs; m != 0 {
			return len(b) - len(s) + bits.TrailingZeros64(m)/8
		}
		s = s[8:]
	}
	for j, c := range s {
		if stringSpecial[c] != 0 {
			return len(b) - len(s) + j
		}
	}
	return len(b)
}

// stringSpecial marks the bytes that plainRun stops at.
var stringSpecial = func() (t [256]byte) {
	for c := range t {
		if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			t[c] = 1
		}
	}
	return t
}()

// checkUnicode checks the four hex digits of a \u escape at the start of
// b and returns how many bytes it looked at.
func checkUnicode(b []byte) (int, error) {
	if len(b) < 4 {
		return len(b), syntaxErr(b, "unicode code point must have at least 4 characters")
	}
	if hexVal(b[0]) < 0 {
		inner := "json: " + fmt.Sprintf("expected hexadecimal digit but found '%c'", b[0]) + ": " + string(b[:4])
		return 4, syntaxErr(b, "parsing unicode code point: %s", inner)
	}
	for _, c := range b[1:4] {
		if hexVal(c) < 0 {
			return 4, syntaxErr(b, "invalid unicode code point")
		}
	}
	return 4, nil
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// unquote appends the content s of a string scanString accepted, with its
// escapes undone and each byte of invalid UTF-8 replaced by U+FFFD.
func unquote(dst, s []byte) []byte {
	for len(s) != 0 {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return appendValidUTF8(dst, s)
		}
		dst = appendValidUTF8(dst, s[:i])
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'u':
			r := hex4(s)
			s = s[4:]
			if utf16.IsSurrogate(r) {
				if !hasPrefix(s, `\u`) {
					r = unicode.ReplacementChar
				} else if r = utf16.DecodeRune(r, hex4(s[2:])); r != unicode.ReplacementChar {
					s = s[6:]
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		}
		dst = append(dst, c) // and '"', '\\', '/' as they are
	}
	return dst
}

func appendValidUTF8(dst, s []byte) []byte {
	if utf8.Valid(s) {
		return append(dst, s...)
	}
	for _, r := range string(s) {
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// scanNumber returns the length of the JSON number at the start of b.
// Like segmentio/encoding it stops at the first byte that cannot continue
// the number ("01" is the number 0 followed by a stray "1").
func scanNumber(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, syntaxErr(b, "unexpected end of JSON input")
	}
	i := 0
	if b[i] == '-' {
		i++
	}
	if i == len(b) {
		return 0, syntaxErr(b, "missing number value after sign")
	}
	if b[i] < '0' || b[i] > '9' {
		return 0, syntaxErr(b, "expected digit but got '%c'", b[i])
	}
	if b[i] == '0' {
		i++
		if i == len(b) || (b[i] != '.' && b[i] != 'e' && b[i] != 'E') {
			return i, nil
		}
	}
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			if i < len(b) {
				return 0, syntaxErr(b, "expected digit but found '%c'", b[i])
			}
			return 0, syntaxErr(b, "expected decimal part after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) {
			return 0, syntaxErr(b, "missing exponent in number")
		}
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, syntaxErr(b, "expected digit but found '%c'", b[i])
		}
	}
	return i, nil
}

// parseFloat is strconv.ParseFloat(string(s), 64) for a JSON number s.
// Numbers of at most 15 digits without an exponent (most prices) take
// Clinger's fast path: the digits are an exact integer m < 2^53 and 10^k is
// exact, so the one rounding of m / 10^k is the correct rounding that
// ParseFloat gives too.
func parseFloat(s []byte) (float64, error) {
	var m uint64
	digits, frac := 0, -1
	for i, c := range s {
		switch {
		case '0' <= c && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.':
			frac = 0
		case c == '-' && i == 0:
		default: // an exponent
			return strconv.ParseFloat(string(s), 64)
		}
	}
	if digits > 15 {
		return strconv.ParseFloat(string(s), 64)
	}
	f := float64(m)
	if frac > 0 {
		f /= pow10[frac]
	}
	if s[0] == '-' {
		f = -f
	}
	return f, nil
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// skipValue returns what follows the JSON value at the start of b.
func skipValue(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return b, syntaxErr(b, "unexpected end of JSON input")
	}
	if b[0] == '{' || b[0] == '[' {
		return skipContainer(b)
	}
	return skipScalar(b)
}

// skipScalar returns what follows the JSON value at the start of b, which
// is not empty and not an object or array.
func skipScalar(b []byte) ([]byte, error) {
	switch b[0] {
	case '"':
		n, _, _, err := scanString(b)
		if err != nil {
			return nil, err
		}
		return b[n:], nil
	case 'n':
		return skipLiteral(b, "null")
	case 't':
		return skipLiteral(b, "true")
	case 'f':
		return skipLiteral(b, "false")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n, err := scanNumber(b)
		if err != nil {
			return nil, err
		}
		return b[n:], nil
	}
	return nil, syntaxErr(b, "invalid character '%c' looking for beginning of value", b[0])
}

func skipLiteral(b []byte, lit string) ([]byte, error) {
	if hasPrefix(b, lit) {
		return b[len(lit):], nil
	}
	if len(b) < len(lit) {
		return nil, syntaxErr(b, "unexpected end of JSON input")
	}
	return nil, syntaxErr(b, "expected '%s' but found invalid token", lit)
}

// skipContainer returns what follows the object or array at the start of
// b. It keeps the open containers on a stack of its own, so that hostile
// nesting costs a byte per level rather than a stack frame.
func skipContainer(b []byte) ([]byte, error) {
	var buf [64]byte
	open := buf[:0]
	var err error
	for {
		// b starts with '{' or '['.
		if len(b) < 2 {
			return nil, syntaxErr(b, "unexpected end of JSON input")
		}
		open = append(open, b[0])
		b = b[1:]
		next := false // whether an element came before in this container
		for {
			b = skipSpaces(b)
			obj := open[len(open)-1] == '{'
			end := byte(']')
			if obj {
				end = '}'
			}
			if len(b) == 0 {
				if obj {
					return nil, syntaxErr(b, "cannot decode object from empty input")
				}
				return nil, syntaxErr(b, "missing closing ']' after array value")
			}
			if b[0] == end {
				b = b[1:]
				if open = open[:len(open)-1]; len(open) == 0 {
					return b, nil
				}
				next = true
				continue
			}
			if next {
				if b[0] != ',' {
					if obj {
						return nil, syntaxErr(b, "expected ',' after object field value but found '%c'", b[0])
					}
					return nil, syntaxErr(b, "expected ',' after array element but found '%c'", b[0])
				}
				if b = skipSpaces(b[1:]); len(b) == 0 {
					return nil, syntaxErr(b, "unexpected end of JSON input")
				}
				if b[0] == end {
					return nil, syntaxErr(b, "unexpected trailing comma after object field")
				}
			}
			if obj {
				n, _, _, err := scanString(b)
				if err != nil {
					return nil, err
				}
				if b = skipSpaces(b[n:]); len(b) == 0 {
					return nil, syntaxErr(b, "unexpected EOF after object field key")
				}
				if b[0] != ':' {
					return nil, syntaxErr(b, "expected ':' after object field key but found '%c'", b[0])
				}
				if b = skipSpaces(b[1:]); len(b) == 0 {
					return nil, syntaxErr(b, "unexpected end of JSON input")
				}
			}
			if b[0] == '{' || b[0] == '[' {
				break // open it
			}
			if b, err = skipScalar(b); err != nil {
				return nil, err
			}
			next = true
		}
	}
}

func skipSpaces(b []byte) []byte {
	if len(b) != 0 && b[0] > ' ' {
		return b
	}
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return b[i:]
		}
	}
	return b[len(b):]
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// syntaxErr is the error of invalid JSON, worded as segmentio/encoding
// words it: what is wrong, then up to 32 bytes of the input from there.
func syntaxErr(b []byte, format string, args ...any) error {
	return &FieldError{Field: "json", Reason: "invalid: json: " + fmt.Sprintf(format, args...) + ": " + prefix(b)}
}

func prefix(b []byte) string {
	if len(b) < 32 {
		return string(b)
	}
	return string(b[:32]) + "..."
}
