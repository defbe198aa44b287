package schemas

import (
	"unicode"
	"unicode/utf8"
)

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
