package schemas

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON grammar of segmentio/encoding/json v0.5.4, which the decoder
// used before the scanner, with its error messages: what the scanner
// falls back on for anything but plain strings, and for every error.

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
// escapes undone and each byte of invalid UTF-8 replaced by U+FFFD. A nil
// dst gets the capacity s needs unless it holds invalid UTF-8.
func unquote(dst, s []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, len(s))
	}
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
