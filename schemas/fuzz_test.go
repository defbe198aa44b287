package schemas_test

import (
	"errors"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/: truncated JSON, wrong
// types, binary garbage, NaN and Infinity literals, years 0001 and 9999,
// empty and long strings. Each target first checks that the decoder agrees
// with the reference decoder (differential_test.go), then that what it
// accepts is a usable event. Run a target with, for example:
//
//	go test ./schemas -run '^$' -fuzz FuzzDecodeTouchpoint -fuzztime 30s

func FuzzDecodeTouchpoint(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","user_id":"u1","timestamp":"2024-03-15T14:30:00Z","source":"google","medium":"cpc"}`))
	f.Add([]byte(`{"event_id":"e1","anonymous_id":"a1","timestamp":1710513000000,"interaction":"impression","cost":0.5}`))
	for _, in := range edgeInputs() {
		f.Add([]byte(in))
	}
	d := schemas.NewDecoder(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		sameTouchpoint(t, d, b)
		tp, err := d.Touchpoint(b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkIdentity(t, tp.EventID, tp.Key(), tp.UserID, tp.AnonymousID, tp.TimeMs)
		if tp.Interaction != schemas.InteractionClick && tp.Interaction != schemas.InteractionImpression {
			t.Fatalf("interaction %q", tp.Interaction)
		}
		if tp.Channel == "" {
			t.Fatal("empty channel: it must be given or derived")
		}
		if !(tp.Cost >= 0 && tp.Cost <= schemas.MaxRevenue) {
			t.Fatalf("cost %v", tp.Cost)
		}
		again, err := d.Touchpoint(b)
		if err != nil || again != tp {
			t.Fatalf("second decode differs: %+v, %v", again, err)
		}
	})
}

func FuzzDecodeConversion(f *testing.F) {
	f.Add([]byte(`{"event_id":"c1","user_id":"u1","timestamp":"2024-03-15T14:30:00.250+01:00","revenue":249.99,"currency":"EUR"}`))
	f.Add([]byte(`{"event_id":"c1","anonymous_id":"a1","timestamp":1710513000000,"conversion_type":"signup"}`))
	for _, in := range edgeInputs() {
		f.Add([]byte(in))
	}
	d := schemas.NewDecoder(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		sameConversion(t, d, b)
		cv, err := d.Conversion(b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkIdentity(t, cv.EventID, cv.Key(), cv.UserID, cv.AnonymousID, cv.TimeMs)
		if cv.RevenueMicros < 0 || cv.RevenueMicros > int64(schemas.MaxRevenue*1e6) {
			t.Fatalf("revenue %d micros", cv.RevenueMicros)
		}
		if cv.ConversionType == "" {
			t.Fatal("empty conversion_type: it must default")
		}
		again, err := d.Conversion(b)
		if err != nil || again != cv {
			t.Fatalf("second decode differs: %+v, %v", again, err)
		}
	})
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var fe *schemas.FieldError
	if !errors.As(err, &fe) || fe.Field == "" {
		t.Fatalf("error %v (%T) is not a *FieldError naming a field", err, err)
	}
	if len(err.Error()) > 300 {
		t.Fatalf("error of %d bytes: values must be clipped", len(err.Error()))
	}
}

func checkIdentity(t *testing.T, eventID, key, userID, anonID string, timeMs int64) {
	t.Helper()
	if eventID == "" || len(eventID) > schemas.MaxIDLength {
		t.Fatalf("event_id %q", eventID)
	}
	if key == "" || len(userID) > schemas.MaxIDLength || len(anonID) > schemas.MaxIDLength {
		t.Fatalf("key %q (user_id %q, anonymous_id %q)", key, userID, anonID)
	}
	if timeMs < schemas.MinTimeMs || timeMs >= schemas.MaxTimeMs {
		t.Fatalf("time %d ms out of range", timeMs)
	}
}
