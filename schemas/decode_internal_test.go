package schemas

import (
	"testing"
	"time"
)

// FuzzRFC3339Millis checks the timestamp fast path against time.Parse: on
// every string it accepts, the instant must be time.Parse's.
func FuzzRFC3339Millis(f *testing.F) {
	for _, s := range []string{
		"2024-03-15T14:30:00Z", "2024-03-15T14:30:00.123456789123Z", "2024-03-15T14:30:00+01:00", "0000-01-01T00:00:00-23:59",
		"9999-12-31T23:59:59.999999999+23:59", "2000-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-03-15T14:30:00.Z",
		"2024-03-15T14:30:00,5Z", "2024-03-15T4:30:00Z", "2024-13-15T14:30:00Z", "2024-03-15T14:30:60Z", "2024-03-15T14:30:00+24:00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, ok := rfc3339Millis(b)
		tm, err := time.Parse(time.RFC3339Nano, string(b))
		if ok && (err != nil || tm.UnixMilli() != ms) {
			t.Fatalf("%q: fast path %d ms, time.Parse %v (%d ms), %v", b, ms, tm, tm.UnixMilli(), err)
		}
	})
}

// TestSchemaMatch checks that each schema matches exactly its names, at
// their indexes, when they are written plainly.
func TestSchemaMatch(t *testing.T) {
	for _, s := range []*objectSchema{touchpointSchema, conversionSchema} {
		if len(s.names) > maxFields {
			t.Fatalf("%d names, more than maxFields", len(s.names))
		}
		for i, n := range s.names {
			if len(n) > maxFieldName {
				t.Errorf("%q is longer than maxFieldName", n)
			}
			for _, in := range []string{`"` + n + `":1`, `"` + n + `"`} {
				if f, end := s.match([]byte(in), 0); f != i || end != len(n)+1 {
					t.Errorf("match(%s) = %d, %d; want %d, %d", in, f, end, i, len(n)+1)
				}
			}
			if got := s.index([]byte(n)); got != i {
				t.Errorf("index(%q) = %d, want %d", n, got, i)
			}
		}
		for _, in := range []string{`"`, `""`, `"x"`, `"Event_id"`, `"event_id `, `"event_id\"`, `"costs"`, `"conversion"`, `"interactio"`, `x"cost"`, `"cost`} {
			if f, _ := s.match([]byte(in), 0); f != -1 {
				t.Errorf("match(%s) = %d, want -1", in, f)
			}
		}
	}
}
