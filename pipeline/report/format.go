package report

import (
	"bufio"
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
	Table Format = "table" // aligned columns for people: numbers right-aligned, money with two decimals, ratios as percentages
	CSV   Format = "csv"   // a header row, then full-precision values; ratios as fractions, NULL as empty
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

// Write writes res to w in format f.
func (res *Result) Write(w io.Writer, f Format) error {
	switch f {
	case CSV:
		return res.WriteCSV(w)
	case JSON:
		return res.WriteJSON(w)
	}
	return res.WriteTable(w)
}

// WriteTable writes res as aligned columns under a header and a rule.
func (res *Result) WriteTable(w io.Writer) error {
	cells := make([][]string, len(res.Rows))
	width := make([]int, len(res.Columns))
	for i, c := range res.Columns {
		width[i] = utf8.RuneCountInString(c.Name)
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
	line(func(i int) string { return res.Columns[i].Name })
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
		return v.S
	case Date:
		return v.T.Format("2006-01-02")
	case Count:
		return group(strconv.FormatInt(v.I, 10))
	case Number, Money:
		return group(strconv.FormatFloat(v.F, 'f', 2, 64))
	case Ratio:
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

// raw formats a value for CSV: full precision, ratios as fractions, NULL
// as the empty string.
func raw(k Kind, v Value) string {
	if v.Null {
		return ""
	}
	switch k {
	case Text:
		return v.S
	case Date:
		return v.T.Format("2006-01-02")
	case Count:
		return strconv.FormatInt(v.I, 10)
	}
	return strconv.FormatFloat(v.F, 'f', -1, 64)
}

// WriteCSV writes res as CSV with a header row.
func (res *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = c.Name
	}
	cw.Write(header)
	rec := make([]string, len(res.Columns))
	for _, row := range res.Rows {
		for i, v := range row {
			rec[i] = raw(res.Columns[i].Kind, v)
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
			k, _ := json.Marshal(c.Name)
			bw.Write(k)
			bw.WriteString(": ")
			var b []byte
			var err error
			switch {
			case v.Null:
				b = []byte("null")
			case c.Kind == Text:
				b, err = json.Marshal(v.S)
			case c.Kind == Date:
				b, err = json.Marshal(v.T.Format("2006-01-02"))
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
