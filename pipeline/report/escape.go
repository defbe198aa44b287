package report

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text in a report comes from events, that is from anyone who can send an
// event: a campaign named "\x1b]0;pwned\a\x1b[2J" retitles and clears the
// analyst's terminal, one with a newline forges a row, one starting with
// "=" runs as a formula in a spreadsheet. Tables and CSV therefore print
// text through escape, and CSV cells through neutralise.

// escape writes out what a terminal would act on: C0 and C1 controls, DEL,
// the bidirectional overrides and line separators of Unicode, and bytes
// that are not UTF-8, as \n, \r, \t, \xNN or \uNNNN. Other text, accents
// and scripts included, is left as it is.
func escape(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || unsafeRune(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f: // C0, DEL, C1 (0x9b is CSI)
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c: // bidi controls
		return true
	}
	return false
}

// neutralise prefixes a single quote to a CSV cell that a spreadsheet
// would run as a formula (OWASP, CSV injection: a cell starting with =, +,
// -, @, tab or carriage return), unless the cell is a plain number such as
// -1.5. Tab and CR never start an escaped cell; they are checked all the
// same.
func neutralise(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}
