package schemas_test

import (
	"testing"
	"unsafe"

	"github.com/attributor/attributor/schemas"
)

// TestOneBlock checks that with OneBlock the strings of one event are views
// of one allocation, in field order, and that an event costs that one
// allocation; and that an empty string points at nothing (it must keep no
// block alive).
func TestOneBlock(t *testing.T) {
	d := schemas.NewDecoder(nil)
	d.OneBlock = true
	tp := []byte(`{"event_id":"e-1","user_id":"u-1","anonymous_id":"a-1","timestamp":1710513000000,` +
		`"channel":"paid_search","source":"google","medium":"cpc","campaign":"spring","cost":0.42,"page":"/x"}`)
	cv := []byte(`{"event_id":"c-1","anonymous_id":"a-1","timestamp":1710513000000,` +
		`"conversion_type":"purchase","revenue":249.99,"currency":"EUR","order_id":"A-1"}`)

	got, err := d.Touchpoint(tp)
	if err != nil {
		t.Fatal(err)
	}
	contiguous(t, got.EventID, got.UserID, got.AnonymousID, got.Channel, got.Source, got.Medium, got.Campaign)
	c, err := d.Conversion(cv)
	if err != nil {
		t.Fatal(err)
	}
	contiguous(t, c.EventID, c.AnonymousID, c.ConversionType, c.Currency)
	if c.UserID != "" || unsafe.StringData(c.UserID) != nil {
		t.Fatalf("absent user_id: %q at %p, want \"\" at nil", c.UserID, unsafe.StringData(c.UserID))
	}

	if n := testing.AllocsPerRun(100, func() { _, _ = d.Touchpoint(tp) }); n != 1 {
		t.Errorf("touchpoint: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = d.Conversion(cv) }); n != 1 {
		t.Errorf("conversion: %v allocations, want 1", n)
	}
	// A derived channel is the rules' string, not a copy: still one.
	noChannel := []byte(`{"event_id":"e-2","user_id":"u-1","timestamp":1710513000000,"source":"google","medium":"cpc"}`)
	if _, err := d.Touchpoint(noChannel); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = d.Touchpoint(noChannel) }); n != 1 {
		t.Errorf("touchpoint with a derived channel: %v allocations, want 1", n)
	}
}

// contiguous fails unless each of ss (all non-empty) starts where the one
// before it ends.
func contiguous(t *testing.T, ss ...string) {
	t.Helper()
	for i := 1; i < len(ss); i++ {
		prev := uintptr(unsafe.Pointer(unsafe.StringData(ss[i-1])))
		if at := uintptr(unsafe.Pointer(unsafe.StringData(ss[i]))); at != prev+uintptr(len(ss[i-1])) {
			t.Fatalf("%q does not follow %q in one block", ss[i], ss[i-1])
		}
	}
}
