package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attributor/attributor/schemas"
)

// wireRow is a credited row as RowWriter prints it in NDJSON.
type wireRow struct {
	schemas.CreditedRow
	Revenue             json.Number `json:"revenue"`
	TouchpointTimestamp string      `json:"touchpoint_timestamp"`
	ConversionTimestamp string      `json:"conversion_timestamp"`
}

// ReadRows reads NDJSON credited rows, as RowWriter writes them, back into
// CreditedRows: revenue exactly into micros, timestamps into epoch ms.
// Unknown fields are an error, so that a renamed column cannot go unnoticed.
func ReadRows(r io.Reader) ([]schemas.CreditedRow, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var rows []schemas.CreditedRow
	for n := 1; ; n++ {
		var w wireRow
		if err := dec.Decode(&w); err != nil {
			if errors.Is(err, io.EOF) {
				return rows, nil
			}
			return rows, fmt.Errorf("row %d: %w", n, err)
		}
		row := w.CreditedRow
		var err error
		if row.RevenueMicros, err = ParseMicros(w.Revenue.String()); err != nil {
			return rows, fmt.Errorf("row %d: revenue: %w", n, err)
		}
		if row.TouchpointTimeMs, err = parseTimeMs(w.TouchpointTimestamp); err != nil {
			return rows, fmt.Errorf("row %d: touchpoint_timestamp: %w", n, err)
		}
		if row.ConversionTimeMs, err = parseTimeMs(w.ConversionTimestamp); err != nil {
			return rows, fmt.Errorf("row %d: conversion_timestamp: %w", n, err)
		}
		rows = append(rows, row)
	}
}

// ParseMicros parses a plain decimal with at most six fractional digits
// ("33.333334", "-1.5", "100") into millionths, exactly.
func ParseMicros(s string) (int64, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || len(frac) > 6 || len(intPart) > 12 {
		return 0, fmt.Errorf("not a decimal with at most 6 places: %q", orig)
	}
	var v int64
	for _, part := range [...]string{intPart, frac + "000000"[len(frac):]} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("not a decimal with at most 6 places: %q", orig)
			}
			v = v*10 + int64(c-'0')
		}
	}
	if neg {
		v = -v
	}
	return v, nil
}

func parseTimeMs(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}
