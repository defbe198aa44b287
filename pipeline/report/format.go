package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is an output format of a result.
type Format string

// Output formats.
const (
	Table Format = "table" // aligned columns for people: numbers right-aligned, money and ratios with two decimals, percentages with %; control characters escaped
	CSV   Format = "csv"   // a header row, then full-precision values; percentages as fractions, NULL as empty; control characters escaped, formulas neutralised
	JSON  Format = "json"  // an array of objects in column order; ratios as fractions, NULL as null
)

// ParseFormat returns the format called s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Table, CSV, JSON:
		return f, nil
	}
	return "", fmt.Errorf("format: must be table, csv or json, got %q", s)
}

// Options tune the output.
type Options struct {
	// CSVFormulas writes CSV text cells that start with =, +, -, @ as they
	// are, for a consumer that is not a spreadsheet; by default they get a
	// leading single quote so that a spreadsheet shows them as text.
	CSVFormulas bool
}

// Write writes res to w in format f.
func (res *Result) Write(w io.Writer, f Format) error { return res.WriteWith(w, f, Options{}) }

// WriteWith writes res to w in format f, tuned by o.
func (res *Result) WriteWith(w io.Writer, f Format, o Options) error {
	switch f {
	case CSV:
		return res.writeCSV(w, o)
	case JSON:
		return res.WriteJSON(w)
	}
	return res.WriteTable(w)
}

// WriteTable writes res as aligned columns under a header and a rule.
func (res *Result) WriteTable(w io.Writer) error {
	cells := make([][]string, len(res.Rows))
	width := make([]int, len(res.Columns))
	names := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		names[i] = escape(c.Name)
		width[i] = utf8.RuneCountInString(names[i])
	}
	for r, row := range res.Rows {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			s := human(res.Columns[i].Kind, v)
			cells[r][i] = s
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(field func(i int) string) {
		var b strings.Builder
		for i, c := range res.Columns {
			s := field(i)
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i > 0 {
				b.WriteString("  ")
			}
			if c.Kind.numeric() {
				b.WriteString(pad + s)
			} else if i < len(res.Columns)-1 {
				b.WriteString(s + pad)
			} else {
				b.WriteString(s)
			}
		}
		bw.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	line(func(i int) string { return names[i] })
	line(func(i int) string { return strings.Repeat("-", width[i]) })
	for _, row := range cells {
		line(func(i int) string { return row[i] })
	}
	if len(res.Rows) == 0 {
		bw.WriteString("(no rows)\n")
	}
	return bw.Flush()
}

// human formats a value for a table.
func human(k Kind, v Value) string {
	if v.Null {
		return "-"
	}
	switch k {
	case Text:
		return escape(v.S)
	case Date:
		return v.T.Format("2006-01-02")
	case Count:
		return group(strconv.FormatInt(v.I, 10))
	case Number, Money, Ratio:
		return group(strconv.FormatFloat(v.F, 'f', 2, 64))
	case Percent:
		return strconv.FormatFloat(v.F*100, 'f', 2, 64) + "%"
	case Hours:
		return group(strconv.FormatFloat(v.F, 'f', 1, 64))
	}
	return ""
}

// group puts thousands separators into a formatted number.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	if s == "0.00" || s == "0.0" {
		sign = "" // no "-0.00" for a tiny negative
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// raw formats a value for CSV: full precision, percentages as fractions,
// NULL as the empty string, text escaped.
func raw(k Kind, v Value) string {
	if v.Null {
		return ""
	}
	switch k {
	case Text:
		return escape(v.S)
	case Date:
		return v.T.Format("2006-01-02")
	case Count:
		return strconv.FormatInt(v.I, 10)
	}
	return strconv.FormatFloat(v.F, 'f', -1, 64)
}

// WriteCSV writes res as CSV with a header row.
func (res *Result) WriteCSV(w io.Writer) error { return res.writeCSV(w, Options{}) }

func (res *Result) writeCSV(w io.Writer, o Options) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = neutralise(escape(c.Name))
	}
	cw.Write(header)
	rec := make([]string, len(res.Columns))
	for _, row := range res.Rows {
		for i, v := range row {
			rec[i] = raw(res.Columns[i].Kind, v)
			if res.Columns[i].Kind == Text && !o.CSVFormulas {
				rec[i] = neutralise(rec[i])
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes res as a JSON array of objects, one per line, whose keys
// are the columns in order.
func (res *Result) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for r, row := range res.Rows {
		if r > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  {")
		for i, v := range row {
			c := res.Columns[i]
			if i > 0 {
				bw.WriteString(", ")
			}
			k, _ := jsonString(c.Name)
			bw.Write(k)
			bw.WriteString(": ")
			var b []byte
			var err error
			switch {
			case v.Null:
				b = []byte("null")
			case c.Kind == Text:
				b, err = jsonString(v.S)
			case c.Kind == Date:
				b, err = jsonString(v.T.Format("2006-01-02"))
			case c.Kind == Count:
				b = strconv.AppendInt(nil, v.I, 10)
			default:
				b, err = json.Marshal(v.F)
			}
			if err != nil {
				return fmt.Errorf("json: column %s: %w", c.Name, err)
			}
			bw.Write(b)
		}
		bw.WriteString("}")
	}
	if len(res.Rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// jsonString encodes s as a JSON string without the HTML escaping of
// json.Marshal: "a > b" stays "a > b", not "a \u003e b". Control
// characters are escaped by JSON itself.
func jsonString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
