package schemas_test

import (
	"errors"
	"math"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// The decoder must give, for every input, what the reference decoder (the
// segmentio/encoding/json one it replaced, kept in reference_test.go)
// gives: the same event, or an error naming the same field for the same
// reason, word for word. The fuzz targets and TestDecodeMatchesReference
// check every input they see with these, in both of the decoder's modes
// (with and without OneBlock).

// modes returns d as it is and d with OneBlock flipped.
func modes(d *schemas.Decoder) [2]*schemas.Decoder {
	other := *d
	other.OneBlock = !d.OneBlock
	return [2]*schemas.Decoder{d, &other}
}

func sameTouchpoint(t *testing.T, d *schemas.Decoder, b []byte) {
	t.Helper()
	want, werr := d.ReferenceTouchpoint(b)
	for _, d := range modes(d) {
		got, err := d.Touchpoint(b)
		if sameError(t, b, err, werr) {
			continue
		}
		if got != want || math.Float64bits(got.Cost) != math.Float64bits(want.Cost) {
			t.Fatalf("input %q, OneBlock %v:\ngot       %+v\nreference %+v", b, d.OneBlock, got, want)
		}
	}
}

func sameConversion(t *testing.T, d *schemas.Decoder, b []byte) {
	t.Helper()
	want, werr := d.ReferenceConversion(b)
	for _, d := range modes(d) {
		got, err := d.Conversion(b)
		if sameError(t, b, err, werr) {
			continue
		}
		if got != want {
			t.Fatalf("input %q, OneBlock %v:\ngot       %+v\nreference %+v", b, d.OneBlock, got, want)
		}
	}
}

// sameError fails unless err and want are both nil, or are both
// *FieldErrors with the same field and reason. It reports whether there
// was an error.
func sameError(t *testing.T, b []byte, err, want error) bool {
	t.Helper()
	if err == nil && want == nil {
		return false
	}
	if err == nil || want == nil {
		t.Fatalf("input %q:\nerror     %v\nreference %v", b, err, want)
	}
	var fe, we *schemas.FieldError
	if !errors.As(err, &fe) || !errors.As(want, &we) {
		t.Fatalf("input %q: error %v (%T), reference %v (%T): want *FieldErrors", b, err, err, want, want)
	}
	if *fe != *we {
		t.Fatalf("input %q:\nerror     %q\nreference %q", b, err, want)
	}
	return true
}

func sameIdentity(t *testing.T, d *schemas.Decoder, b []byte) {
	t.Helper()
	got, err := d.Identity(b)
	want, werr := d.ReferenceIdentity(b)
	if sameError(t, b, err, werr) {
		return
	}
	if got != want {
		t.Fatalf("input %q:\ngot       %+v\nreference %+v", b, got, want)
	}
}
